"""`tongban demo`: one case accepted at a 福建 window, processed in 广东, and back.

Two runs: the automatic one, where the nodes' policies (turned on explicitly here) take every
step, and `--manual`, where the nodes keep their default (people decide, decision 0024) and the
demo plays the clerk and the officer through the nodes' HTTP API (regions/demo_people.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from rich.console import Console
from rich.markup import escape
from stdnum.cn import ric

from deploy.stack import manager
from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from regions.api.ports import api_port
from regions.beijing_time import ZONE_LABEL, in_beijing, show
from regions.demo_people import (
    DemoStepFailed,
    PeopleRun,
    Person,
    PersonStep,
    play_people,
    wait_until_serving,
)
from regions.follow import CaseFollower
from regions.local import ensure_local_keys, local_node_settings
from regions.naming import intake_workflow_id, namespace, processing_workflow_id
from regions.node import connect_as_node, node_services
from regions.node_process import NodeProcess, spawn_node, wait_until_polling
from regions.policies import AUTOMATIC, CasePolicies
from regions.tokens import Role, TokenStore
from regions.window import Application, material_ref, submit_case
from workflows.models import AutoPolicy, CaseStep

ORIGIN, PROCESSING = "350000", "440000"
# Whom `--manual` plays: their tokens name them (工号, name), so each step records who took it.
CLERK = Person("A001", "张三", "窗口", "fz-01", ORIGIN, Role.WINDOW_CLERK)
OFFICER = Person("B001", "李四", "办理", "gz-01", PROCESSING, Role.PROCESSING_OFFICER)


def synthetic_id_number(area: str = "350102", birth: str = "19900101", serial: str = "123") -> str:
    """A checksum-valid resident ID number that belongs to nobody (demo and tests only)."""
    body = f"{area}{birth}{serial}"
    # calc_check_digit expects the check digit position to be present; its value is ignored.
    return body + ric.calc_check_digit(body + "0")


def demo_policies(*, manual: bool, decision: str) -> CasePolicies:
    """Both nodes' policies: people's defaults for `--manual`; otherwise every step automatic,
    turned on explicitly, with B's decision as asked."""
    if manual:
        return CasePolicies()
    steps = {**AUTOMATIC.model_dump(), "decision": decision}
    return CasePolicies(default=AutoPolicy.model_validate(steps))


def demo_application() -> Application:
    return Application(
        item_code="GG-00102-000",
        processing_region=PROCESSING,
        materials=(material_ref("居民身份证"), material_ref("社会保障卡申领登记表")),
        applicant_name="演示申请人",
        applicant_id_number=synthetic_id_number(),
        applicant_phone="13800000000",
        applicant_address="福建省福州市鼓楼区",
        fee_fen=0,
    )


def _print_step(console: Console, submitted: datetime) -> Callable[[str, CaseStep], None]:
    def show(side: str, step: CaseStep) -> None:
        elapsed = (step.at - submitted).total_seconds()
        where = "A 福建" if step.region == ORIGIN else "B 广东"
        event = f" event {step.event_id[:8]}" if step.event_id else ""
        # Whose step it was, where a person or a policy took it (经办人).
        actor = step.actor
        taken_by = actor is not None and actor.kind in ("person", "policy")
        who = f"  [magenta]经办人 {escape(actor.label)}[/magenta]" if actor and taken_by else ""
        console.print(
            f"[dim]{in_beijing(step.at):%H:%M:%S.%f}"[:-3] + f" +{elapsed:5.1f}s[/dim]  "
            f"[bold]{where}[/bold] {side:<10} [cyan]{step.status:<22}[/cyan] {step.detail}{event}"
            f"{who}",
            highlight=False,
            soft_wrap=True,
        )

    return show


def _print_person(console: Console, submitted: datetime) -> Callable[[PersonStep], None]:
    def show(step: PersonStep) -> None:
        elapsed = (step.at - submitted).total_seconds()
        where = "A 福建" if step.person.region == ORIGIN else "B 广东"
        console.print(
            f"[dim]{in_beijing(step.at):%H:%M:%S.%f}"[:-3] + f" +{elapsed:5.1f}s[/dim]  "
            f"[bold]{where}[/bold] [bold yellow]{step.line}[/bold yellow]"
            f"  [dim]{step.method} {step.path} → {step.http_status} {step.status_after}[/dim]",
            highlight=False,
            soft_wrap=True,
        )

    return show


async def _print_documents(console: Console, endpoints: StackEndpoints, case_no: str) -> None:
    """The signed documents each region issued for the case (numbers and titles only)."""
    for region, where in ((ORIGIN, "A 福建"), (PROCESSING, "B 广东")):
        conn = await asyncpg.connect(region_dsn(endpoints.postgres_dsn, region))
        try:
            issued = await conn.fetch(
                "SELECT number, title FROM documents WHERE case_no = $1 ORDER BY issued_at, number",
                case_no,
            )
        finally:
            await conn.close()
        for row in issued:
            console.print(f"{where} 文书  {row['title']}  {row['number']}", highlight=False)
    console.print(
        "[dim]signed PDFs: tongban case documents CASE_NO --out DIR, then"
        " tongban documents verify FILE.pdf[/dim]"
    )


async def run_demo(
    *,
    timeout: float,
    decision: str,
    manual: bool = False,
    api_port_base: int | None = None,
    console: Console | None = None,
) -> int:
    """Bring the stack up, start both nodes, run one case (by policy, or by people through the
    API with `manual`) and follow it until it is closed in both regions. 0 once it is."""
    console = console or Console()
    began = time.monotonic()
    stack = StackSettings()
    how = "窗口与办理人员经 API 逐步办理" if manual else "自动策略办理"
    console.rule(f"tongban demo: 异地代收代办 福建 (350000) → 广东 (440000)，{how}")
    endpoints = await manager.up(stack, report=lambda m: console.print(f"[dim]· {m}[/dim]"))
    ensure_local_keys(stack, stack.regions)
    console.print(f"stack ready in {time.monotonic() - began:.1f}s")

    policies = demo_policies(manual=manual, decision=decision)
    env = {"TONGBAN_NODE_POLICIES": policies.model_dump_json()}
    if api_port_base is not None:
        env["TONGBAN_NODE_API_PORT_BASE"] = str(api_port_base)
    log_dir = stack.state_dir / "nodes"
    nodes: list[NodeProcess] = [spawn_node(region, log_dir, env) for region in (ORIGIN, PROCESSING)]
    try:
        clients = {
            region: await connect_as_node(local_node_settings(region, stack, endpoints))
            for region in (ORIGIN, PROCESSING)
        }
        for node in nodes:
            await wait_until_polling(clients[node.region], node)
        console.print(
            f"nodes running (logs in {log_dir}); times of day in {ZONE_LABEL} (UTC+08:00)"
        )

        origin_settings = local_node_settings(ORIGIN, stack, endpoints)
        people: asyncio.Task[PeopleRun] | None = None
        if manual:
            apis = await _serving_apis(stack, endpoints, api_port_base)
            console.print(f"window API {apis[ORIGIN]}, office API {apis[PROCESSING]}")
            submitted = datetime.now(UTC)
            known: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            people = asyncio.create_task(
                play_people(
                    application=demo_application(),
                    clerk=CLERK,
                    officer=OFFICER,
                    apis=apis,
                    tokens=TokenStore(origin_settings.tokens_path),
                    decision=decision,
                    on_step=_print_person(console, submitted),
                    on_submitted=known.set_result,
                    timeout=timeout,
                )
            )
            case_no = await _first(known, people)
        else:
            submitted = datetime.now(UTC)
            async with node_services(origin_settings) as services:
                handle = await submit_case(
                    pool=services.pool,
                    client=services.client,
                    credentials=services.credentials,
                    application=demo_application(),
                    policies=policies,
                )
            case_no = handle.id.removeprefix("intake-")
            console.print(f"case [bold]{case_no}[/bold] submitted at the 福建 window")

        follower = CaseFollower(case_no, clients[ORIGIN], clients[PROCESSING])
        following = asyncio.create_task(
            follower.follow(_print_step(console, submitted), timeout=timeout)
        )
        if people is not None:
            await asyncio.wait({following, people}, return_when=asyncio.FIRST_COMPLETED)
            if people.done() and people.exception() is not None:
                following.cancel()
                console.print(f"[red]{people.exception()}[/red]", markup=False)
                return 1
        closed = await following
        ui = endpoints.temporal_ui or "http://localhost:8233"
        for region, workflow_id in (
            (ORIGIN, intake_workflow_id(case_no)),
            (PROCESSING, processing_workflow_id(case_no)),
        ):
            link = f"{ui}/namespaces/{namespace(region)}/workflows/{workflow_id}"
            console.print(f"{region} workflow {workflow_id}: {link}", soft_wrap=True)
        if not closed:
            states = {side: p.status for side, p in follower.latest.items()}
            console.print(
                f"[red]case not closed in both regions after {timeout:.0f}s;"
                f" last states {states}[/red]"
            )
            for node in nodes:
                console.print(
                    f"--- node {node.region} log tail ---\n{node.log_tail()}", markup=False
                )
            return 1
        await _print_documents(console, endpoints, case_no)
        console.print(
            f"[green]case {case_no} closed in both regions[/green]"
            f" (demo took {time.monotonic() - began:.1f}s,"
            f" at {show(datetime.now(UTC), seconds=True)})"
        )
        return 0
    finally:
        for node in nodes:
            node.stop()


async def _serving_apis(
    stack: StackSettings, endpoints: StackEndpoints, api_port_base: int | None
) -> dict[str, str]:
    """Each node's API address, once it answers `/readyz`."""
    apis = {}
    for region in (ORIGIN, PROCESSING):
        settings = local_node_settings(region, stack, endpoints)
        if api_port_base is not None:
            settings = settings.model_copy(update={"api_port_base": api_port_base})
        apis[region] = f"http://{settings.api_host}:{api_port(settings)}"
        await wait_until_serving(apis[region])
    return apis


async def _first(known: asyncio.Future[str], people: asyncio.Task[PeopleRun]) -> str:
    """The case number once the clerk has submitted, or what stopped the clerk before."""
    either: list[asyncio.Future[Any]] = [known, people]
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if known.done():
        return known.result()
    people.result()  # raises the clerk's failure
    raise DemoStepFailed("the clerk's steps ended without submitting a case")
