"""Driving cases through their lifecycle on a running province pair, for the lifecycle tests."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from catalog.catalog import Catalog
from events.models import MaterialRef
from regions.case_handles import intake_handle, processing_handle
from regions.node import node_services
from regions.node_settings import NodeSettings
from regions.policies import CasePolicies
from regions.window import submit_case
from tests.integration.exchange_support import rows
from tests.integration.pair import ProvincePair
from tests.waiting import eventually
from workflows.intake import IntakeWorkflow
from workflows.models import AutoPolicy, CaseProgress, CaseTimings
from workflows.processing import ProcessingWorkflow

MANUAL = AutoPolicy(
    formal_review="manual", acceptance="manual", decision="manual", delivery="manual"
)
FAST = CaseTimings(
    answer_timeout=timedelta(seconds=8),
    supplement_working_days=1,  # 5 s, where the item sets none
    cancel_timeout=timedelta(seconds=8),
    delivery_wait=timedelta(seconds=60),
    working_day=timedelta(seconds=5),
)

# The test catalog (tests/catalog/national.json): item codes must follow the catalog's code
# format, so each scenario's item has a code in the unused 主项 range 99xxx.
TEST_CATALOG_DIR = Path(__file__).resolve().parent.parent / "catalog"
TEST_CATALOG = Catalog.load(TEST_CATALOG_DIR)
T_FEE = "GG-99001-000"  # automatic, charges 2500 fen, needs 身份证
T_MANUAL = "GG-99002-000"
T_MISSING = "GG-99003-000"  # needs 身份证 and 户口簿
T_NOT_ACCEPT = "GG-99004-000"  # 1000 fen
T_DENY = "GG-99005-000"  # 500 fen
T_B_DECIDES = "GG-99006-000"
T_B_DECIDES_FEE = "GG-99007-000"  # 800 fen
T_DEADLINE = "GG-99008-000"  # promised 2, statutory 3 working days
T_CAN = "GG-99009-000"
T_SLOW_COMPENSATION = "GG-99010-000"  # 1500 fen
T_NO_ANSWER = "GG-99011-000"  # 300 fen
T_LATE_ACCEPTANCE = "GG-99012-000"  # B's officer never decides on acceptance (Art. 32)
T_BEFORE_ACCEPTANCE = "GG-99013-000"  # B asks for 补正 before accepting; 补正 due in 2 days
T_REFUSE_MISSED = "GG-99014-000"  # on_missed_supplement: refused
T_ROUTE = "GG-99015-000"  # 多地联办: 迁入地 准迁 → 迁出地 迁出 → 迁入地 落户

# Each test item selects the policies a scenario needs.
TEST_POLICIES = CasePolicies(
    default=AutoPolicy(),
    items={
        T_DENY: AutoPolicy(decision="deny"),
        T_NOT_ACCEPT: AutoPolicy(acceptance="not-accept"),
        T_MANUAL: MANUAL,
        T_B_DECIDES: AutoPolicy(decision="manual"),
        T_B_DECIDES_FEE: AutoPolicy(decision="manual"),
        T_DEADLINE: AutoPolicy(decision="manual"),
        T_CAN: MANUAL,
        T_SLOW_COMPENSATION: AutoPolicy(decision="deny"),
        T_LATE_ACCEPTANCE: AutoPolicy(acceptance="manual", decision="manual"),
        T_BEFORE_ACCEPTANCE: AutoPolicy(acceptance="manual"),
        T_REFUSE_MISSED: AutoPolicy(decision="manual"),
        # The window passes the review and the legs' offices accept; each leg's officer decides.
        T_ROUTE: AutoPolicy(decision="manual"),
    },
    timings=FAST,
    promised_working_days=20,
    item_timings={
        # Long enough 补正 and answer times for a test to push the history past its limit
        # while a 补正 is pending.
        T_CAN: FAST.model_copy(
            update={
                "history_limit": 40,
                "supplement_working_days": 12,
                "answer_timeout": timedelta(seconds=30),
            }
        ),
        T_SLOW_COMPENSATION: FAST.model_copy(
            update={"compensation_step_delay": timedelta(seconds=2)}
        ),
        T_DEADLINE: FAST.model_copy(update={"warn_fraction": 0.5}),
        # B's acceptance days (1 working day = 5 s) pass long before A's answer timeout.
        T_LATE_ACCEPTANCE: FAST.model_copy(
            update={"acceptance_working_days": 1, "answer_timeout": timedelta(seconds=60)}
        ),
        # Time for the officer to ask before accepting and to accept after the 补正.
        T_BEFORE_ACCEPTANCE: FAST.model_copy(update={"answer_timeout": timedelta(seconds=60)}),
    },
)
POLICY_ENV = {
    "TONGBAN_NODE_POLICIES": TEST_POLICIES.model_dump_json(),
    "TONGBAN_NODE_CATALOG_DIR": str(TEST_CATALOG_DIR),
}


def material(name: str) -> MaterialRef:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return MaterialRef(name=name, sha256=digest, ref=f"window://materials/{digest[:12]}")


async def submit(
    pair: ProvincePair,
    origin: NodeSettings,
    item_code: str,
    *,
    fee_fen: int = 0,
    materials: tuple[MaterialRef, ...] = (),
    tolerate_missing: bool = False,
    processing_region: str | None = None,
) -> str:
    overrides: dict[str, object] = {
        "item_code": item_code,
        "fee_fen": fee_fen,
        "materials": materials,
    }
    if processing_region:
        overrides["processing_region"] = processing_region
    async with node_services(origin) as services:
        handle = await submit_case(
            pool=services.pool,
            client=services.client,
            credentials=services.credentials,
            application=pair.application(**overrides),
            policies=TEST_POLICIES,
            catalog=TEST_CATALOG,
            tolerate_missing=tolerate_missing,
        )
    return handle.id.removeprefix("intake-")


def intake(pair: ProvincePair, case_no: str) -> WorkflowHandle[IntakeWorkflow, object]:
    return intake_handle(pair.clients[pair.origin], case_no)


def processing(pair: ProvincePair, case_no: str) -> WorkflowHandle[ProcessingWorkflow, object]:
    return processing_handle(pair.clients[pair.processing], case_no)


def _shown(progress: CaseProgress | None) -> str:
    if progress is None:
        return "no workflow yet"
    last = progress.steps[-1].detail if progress.steps else "-"
    return f"{progress.status} (closed={progress.closed}; last step: {last})"


async def _wait(
    fetch: Callable[[], Awaitable[CaseProgress]],
    ready: Callable[[CaseProgress], bool],
    timeout: float,
    what: str,
) -> CaseProgress:
    async def progress() -> CaseProgress | None:
        try:
            return await fetch()
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:  # B's workflow may not exist yet
                raise
            return None

    found = await eventually(
        progress,
        until=lambda p: p is not None and ready(p),
        timeout=timeout,
        what=what,
        describe=_shown,
    )
    assert found is not None
    return found


Ready = Callable[[CaseProgress], bool]


async def a_until(
    pair: ProvincePair,
    case_no: str,
    ready: Ready,
    timeout: float = 30,
    what: str = "the awaited progress",
) -> CaseProgress:
    return await _wait(
        lambda: intake(pair, case_no).query(IntakeWorkflow.progress),
        ready,
        timeout,
        f"{case_no} at {pair.origin}: {what}",
    )


async def b_until(
    pair: ProvincePair,
    case_no: str,
    ready: Ready,
    timeout: float = 30,
    what: str = "the awaited progress",
) -> CaseProgress:
    return await _wait(
        lambda: processing(pair, case_no).query(ProcessingWorkflow.progress),
        ready,
        timeout,
        f"{case_no} at {pair.processing}: {what}",
    )


async def a_reaches(
    pair: ProvincePair, case_no: str, status: str, timeout: float = 30
) -> CaseProgress:
    return await a_until(pair, case_no, lambda p: p.status == status, timeout, status)


async def b_reaches(
    pair: ProvincePair, case_no: str, status: str, timeout: float = 30
) -> CaseProgress:
    return await b_until(pair, case_no, lambda p: p.status == status, timeout, status)


async def a_closed(pair: ProvincePair, case_no: str, timeout: float = 60) -> CaseProgress:
    return await a_until(pair, case_no, lambda p: p.closed, timeout, "closed")


async def b_closed(pair: ProvincePair, case_no: str, timeout: float = 60) -> CaseProgress:
    return await b_until(pair, case_no, lambda p: p.closed, timeout, "closed")


def statuses(progress: CaseProgress) -> list[str]:
    """The distinct statuses in the order the case went through them."""
    seen: list[str] = []
    for step in progress.steps:
        if not seen or seen[-1] != step.status:
            seen.append(step.status)
    return seen


async def journal(dsn: str, case_no: str) -> list[tuple[str, int]]:
    """Instructions issued to the outside world for this case, in order: (effect, amount)."""
    found = await rows(
        dsn, "SELECT effect, amount_fen FROM effect_orders WHERE case_no = $1 ORDER BY id", case_no
    )
    return [(r["effect"], r["amount_fen"]) for r in found]
