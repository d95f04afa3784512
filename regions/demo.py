"""`tongban demo`: one case accepted at a 福建 window, processed in 广东, and back."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console
from stdnum.cn import ric

from deploy.stack import manager
from deploy.stack.settings import StackSettings
from regions.follow import CaseFollower
from regions.local import ensure_local_keys, local_node_settings
from regions.naming import intake_workflow_id, namespace, processing_workflow_id
from regions.node import connect_temporal, node_services
from regions.node_process import NodeProcess, spawn_node, wait_until_polling
from regions.policies import CasePolicies
from regions.window import Application, material_ref, submit_case
from workflows.models import AutoPolicy, CaseStep

ORIGIN, PROCESSING = "350000", "440000"


def synthetic_id_number(area: str = "350102", birth: str = "19900101", serial: str = "123") -> str:
    """A checksum-valid resident ID number that belongs to nobody (demo and tests only)."""
    body = f"{area}{birth}{serial}"
    # calc_check_digit expects the check digit position to be present; its value is ignored.
    return body + ric.calc_check_digit(body + "0")


def _policies(decision: str) -> str:
    return CasePolicies(default=AutoPolicy.model_validate({"decision": decision})).model_dump_json()


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
        console.print(
            f"[dim]{step.at:%H:%M:%S.%f}"[:-3] + f" +{elapsed:5.1f}s[/dim]  "
            f"[bold]{where}[/bold] {side:<10} [cyan]{step.status:<22}[/cyan] {step.detail}{event}",
            highlight=False,
            soft_wrap=True,
        )

    return show


async def run_demo(*, timeout: float, decision: str) -> int:
    console = Console()
    began = time.monotonic()
    stack = StackSettings()
    console.rule("tongban demo: 异地代收代办 福建 (350000) → 广东 (440000)")
    endpoints = await manager.up(stack, report=lambda m: console.print(f"[dim]· {m}[/dim]"))
    ensure_local_keys(stack, stack.regions)
    console.print(f"stack ready in {time.monotonic() - began:.1f}s")

    log_dir = stack.state_dir / "nodes"
    nodes: list[NodeProcess] = [
        spawn_node(ORIGIN, log_dir),
        spawn_node(PROCESSING, log_dir, env={"TONGBAN_NODE_POLICIES": _policies(decision)}),
    ]
    try:
        clients = {
            region: await connect_temporal(endpoints.temporal_address, namespace(region))
            for region in (ORIGIN, PROCESSING)
        }
        for node in nodes:
            await wait_until_polling(clients[node.region], node)
        console.print(f"nodes running (logs in {log_dir})")

        origin_settings = local_node_settings(ORIGIN, stack, endpoints)
        submitted = datetime.now(UTC)
        async with node_services(origin_settings) as services:
            handle = await submit_case(
                pool=services.pool,
                client=services.client,
                credentials=services.credentials,
                application=demo_application(),
                policies=origin_settings.policies,
            )
        case_no = handle.id.removeprefix("intake-")
        console.print(f"case [bold]{case_no}[/bold] submitted at the 福建 window")

        follower = CaseFollower(case_no, clients[ORIGIN], clients[PROCESSING])
        closed = await follower.follow(_print_step(console, submitted), timeout=timeout)
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
        console.print(
            f"[green]case {case_no} closed in both regions[/green]"
            f" (demo took {time.monotonic() - began:.1f}s,"
            f" at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        )
        return 0
    finally:
        for node in nodes:
            node.stop()
