"""`tongban demo` both ways: by the policies it turns on, and (`--manual`) by people through the
nodes' HTTP API, the nodes keeping their default (people decide, decision 0024)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from deploy.stack.settings import StackEndpoints, StackSettings
from regions.case_handles import intake_handle, processing_handle
from regions.demo import CLERK, OFFICER, ORIGIN, PROCESSING, run_demo
from regions.local import local_node_settings
from regions.tokens import TokenState, TokenStore
from tests.support.stack_access import temporal_client
from workflows.models import CaseOutcome

pytestmark = pytest.mark.integration

# Off the default ports (8001, 8002) a person's own nodes may be using, and off other suites'.
API_PORT_BASE = 18790
POLICY = "automatic policy"
BY_POLICY = "经办人 自动（策略）"


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=400, color_system=None, soft_wrap=True), out


def _case_no(printed: str) -> str:
    found = re.search(r"case (\d{6}-\d{8}-[0-9A-Z]{8}) closed in both regions", printed)
    assert found, printed
    return found.group(1)


async def _ends(
    settings: StackSettings, stack: StackEndpoints, case_no: str
) -> tuple[CaseOutcome, CaseOutcome]:
    """Both workflows' results (the demo's nodes are gone: no worker answers a query now)."""
    origin = await temporal_client(settings, stack, ORIGIN)
    processing = await temporal_client(settings, stack, PROCESSING)
    intake = intake_handle(origin, case_no)
    b_side = processing_handle(processing, case_no)
    a, b = await intake.result(), await b_side.result()
    return a, b


def _workflow_lines(printed: str, status: str) -> list[str]:
    """The demo's lines for the workflows' steps in `status` (it prints every step it sees)."""
    return [
        line
        for line in printed.splitlines()
        if re.search(rf" (intake|processing) +{re.escape(status)} ", line)
    ]


async def test_the_automatic_demo_closes_the_case_by_the_policies_it_turns_on(
    stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    console, out = _console()
    code = await run_demo(
        timeout=120, decision="approve", api_port_base=API_PORT_BASE, console=console
    )
    printed = out.getvalue()
    assert code == 0, printed
    a, b = await _ends(stack_settings, stack, _case_no(printed))
    assert (a.status, a.outcome) == ("closed", "approved")
    assert (b.status, b.outcome) == ("closed", "approved")
    # The people's steps were taken by the policies the demo turned on.
    for status in ("formal-review-passed", "approved"):
        taken = [line for line in _workflow_lines(printed, status) if BY_POLICY in line]
        assert [line for line in taken if POLICY in line], (status, printed)


async def test_manual_demo_people_take_every_step_through_the_api(
    stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    console, out = _console()
    code = await run_demo(
        timeout=120, decision="approve", manual=True, api_port_base=API_PORT_BASE, console=console
    )
    printed = out.getvalue()
    assert code == 0, printed
    case_no = _case_no(printed)

    # Each person's step, in Chinese, with the API request that took it and its answer.
    for person, step, path in (
        (CLERK, "收件：GG-00102-000 → 440000", "/window/cases"),
        (CLERK, "形式审查：通过", f"/window/cases/{case_no}/formal-review"),
        (OFFICER, "受理", f"/office/cases/{case_no}/acceptance"),
        (OFFICER, "决定：准予（符合办理条件）", f"/office/cases/{case_no}/decision"),
        (CLERK, "送达：窗口领取", f"/window/cases/{case_no}/delivery"),
    ):
        line = f"{person} {step}"
        assert re.search(rf"{re.escape(line)}\s+POST {re.escape(path)} → 20[01] ", printed), (
            line,
            printed,
        )
    assert "窗口 张三(工号 A001) 形式审查：通过" in printed
    assert "办理 李四(工号 B001) 受理" in printed

    a, b = await _ends(stack_settings, stack, case_no)
    assert (a.status, a.outcome) == ("closed", "approved")
    assert (b.status, b.outcome) == ("closed", "approved")
    # No policy took any step: the nodes kept their default, and people decided. Each
    # workflow recorded the person the token named as the one who took the step.
    assert POLICY not in printed
    assert "自动（策略）" not in printed
    clerk = f"经办人 {CLERK.name}（工号 {CLERK.staff_no}，{CLERK.window}）"
    officer = f"经办人 {OFFICER.name}（工号 {OFFICER.staff_no}，{OFFICER.window}）"
    for status, who in (
        ("formal-review-passed", clerk),
        ("processing", officer),
        ("approved", officer),
        ("result-delivered", clerk),
    ):
        assert [line for line in _workflow_lines(printed, status) if who in line], (status, printed)

    # The two people's tokens came from the region's token store, and the demo revoked them.
    tokens = TokenStore(local_node_settings(ORIGIN, stack_settings, stack).tokens_path)
    for person in (CLERK, OFFICER):
        mine = [r for r in tokens.records(person.region) if r.person_id == person.staff_no]
        assert mine, person
        assert (mine[-1].role, mine[-1].person_name) == (person.role, person.name)
        assert mine[-1].state(mine[-1].issued_at) is TokenState.REVOKED
