"""Every transition of both sides' case workflows, on the real stack with real timers.

Each test names, in its docstring, the transitions it covers (see docs/lifecycle.md).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.models import EventType, InboundEvent
from regions.local import ensure_local_keys, local_node_settings
from regions.node_settings import NodeSettings
from tests.integration.exchange_support import rows
from tests.integration.lifecycle import (
    POLICY_ENV,
    T_B_DECIDES,
    T_B_DECIDES_FEE,
    T_BEFORE_ACCEPTANCE,
    T_CAN,
    T_DEADLINE,
    T_DENY,
    T_FEE,
    T_LATE_ACCEPTANCE,
    T_MANUAL,
    T_MISSING,
    T_NO_ANSWER,
    T_NOT_ACCEPT,
    T_REFUSE_MISSED,
    a_closed,
    a_reaches,
    a_until,
    b_closed,
    b_reaches,
    b_until,
    intake,
    journal,
    material,
    processing,
    statuses,
    submit,
)
from tests.integration.pair import ProvincePair, start_pair
from tests.waiting import eventually
from workflows.lifecycle.intake import Phase as IntakePhase
from workflows.lifecycle.pairs import agree
from workflows.models import (
    AcceptanceDecision,
    CaseProgress,
    Decision,
    DeliveryConfirmation,
    FormalReview,
    SupplementMaterials,
    SupplementRequest,
    Withdrawal,
)

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
NOTIFY, TAKE, RECEIPT, FEE = "notify-applicant", "take-materials", "issue-receipt", "charge-fee"
REFUND, VOID, RETURN = "refund-fee", "void-receipt", "return-materials"


@pytest.fixture(scope="module")
async def pair(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[ProvincePair]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    async with start_pair(stack, stack_settings, A, B, env=POLICY_ENV) as started:
        yield started


@pytest.fixture(scope="module")
def origin(stack: StackEndpoints, stack_settings: StackSettings) -> NodeSettings:
    return local_node_settings(A, stack_settings, stack)


@pytest.fixture(scope="module")
def dsn_a(stack: StackEndpoints) -> str:
    return region_dsn(stack.postgres_dsn, A)


@pytest.fixture(scope="module")
def dsn_b(stack: StackEndpoints) -> str:
    return region_dsn(stack.postgres_dsn, B)


async def test_automatic_approval_with_a_fee(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str
) -> None:
    """A: received → formal-review → formal-review-passed → forwarded → in-transit → processing →
    result-received → result-delivered → closed. B: received → processing → approved →
    result-sent → closed."""
    case_no = await submit(pair, origin, T_FEE, fee_fen=2500, materials=(material("身份证"),))
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert statuses(a) == [
        "received",
        "formal-review",
        "formal-review-passed",
        "forwarded",
        "in-transit",
        "processing",
        "result-received",
        "result-delivered",
        "closed",
    ]
    assert statuses(b) == ["received", "processing", "approved", "result-sent", "closed"]
    assert (a.outcome, b.outcome) == ("approved", "approved")
    accepted = [s.detail for s in a.steps if s.status == "processing"]
    assert accepted[0].startswith("accepted; deadline ")
    assert a.deadline is None
    assert b.deadline is None  # both stop the clock once decided
    assert await journal(dsn_a, case_no) == [(TAKE, 0), (RECEIPT, 0), (FEE, 2500), (NOTIFY, 0)]


async def test_refused_at_formal_review(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str
) -> None:
    """A: formal-review → refused-at-intake → compensating → closed-rejected (nothing forwarded)."""
    case_no = await submit(pair, origin, T_MANUAL, materials=(material("申请表"),))
    await a_reaches(pair, case_no, "formal-review")
    ack = await intake(pair, case_no).execute_update(
        "record_formal_review", FormalReview(outcome="refuse", reason="not this office's item")
    )
    assert ack["status"] in ("refused-at-intake", "compensating", "closed-rejected")
    a = await a_closed(pair, case_no)
    assert statuses(a)[-3:] == ["refused-at-intake", "compensating", "closed-rejected"]
    assert "forwarded" not in statuses(a)
    assert await journal(dsn_a, case_no) == [(TAKE, 0), (RETURN, 0), (NOTIFY, 0)]


async def test_supplement_at_the_window_then_manual_steps_on_both_sides(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str
) -> None:
    """A: formal-review → supplement-pending → formal-review → formal-review-passed; B (manual):
    received → processing via decide_acceptance; B: processing → approved via decide; A:
    result-received → result-delivered by mail with tracking number → closed."""
    case_no = await submit(pair, origin, T_MANUAL)
    handle_a = intake(pair, case_no)
    await a_reaches(pair, case_no, "formal-review")
    await handle_a.execute_update(
        "record_formal_review",
        FormalReview(outcome="supplement", missing=("户口簿",), reason="缺少户口簿"),
    )
    await a_reaches(pair, case_no, "supplement-pending")
    ack = await handle_a.execute_update(
        "provide_supplement", SupplementMaterials(materials=(material("户口簿"),))
    )
    assert ack["status"] == "formal-review"
    await handle_a.execute_update(
        "record_formal_review", FormalReview(outcome="pass", reason="齐全")
    )

    await b_reaches(pair, case_no, "received")
    await processing(pair, case_no).execute_update(
        "decide_acceptance", AcceptanceDecision(accept=True)
    )
    await b_reaches(pair, case_no, "processing")
    await processing(pair, case_no).execute_update(
        "decide", Decision(approve=True, reason="符合条件")
    )
    await a_reaches(pair, case_no, "result-received")
    await handle_a.execute_update(
        "confirm_delivery", DeliveryConfirmation(channel="mail", tracking_no="SF1234567890")
    )
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert statuses(a) == [
        "received",
        "formal-review",
        "supplement-pending",
        "formal-review",
        "formal-review-passed",
        "forwarded",
        "in-transit",
        "processing",
        "result-received",
        "result-delivered",
        "closed",
    ]
    assert any("SF1234567890" in step.detail for step in a.steps)
    assert statuses(b) == ["received", "processing", "approved", "result-sent", "closed"]
    assert [e for e, _ in await journal(dsn_a, case_no)].count(
        NOTIFY
    ) == 2  # 补正 notice, result ready


async def test_missing_mandatory_material_and_no_supplement_in_time(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str
) -> None:
    """A (automatic review): formal-review → supplement-pending → (the 补正 working days pass) →
    deemed-withdrawn (视为撤回) → compensating → closed-deemed-withdrawn (its own ending)."""
    case_no = await submit(
        pair, origin, T_MISSING, tolerate_missing=True, materials=(material("身份证"),)
    )
    a = await a_closed(pair, case_no)
    assert statuses(a)[1:] == [
        "formal-review",
        "supplement-pending",
        "deemed-withdrawn",
        "compensating",
        "closed-deemed-withdrawn",
    ]
    assert a.outcome == "deemed-withdrawn"
    assert agree(IntakePhase(a.status), a.outcome, None)
    assert await journal(dsn_a, case_no) == [
        (TAKE, 0),
        (NOTIFY, 0),
        ("issue-supplement-notice", 0),  # the 一次性告知书
        (RETURN, 0),
        (NOTIFY, 0),
    ]


async def test_not_accepted_compensates_in_reverse_order(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str
) -> None:
    """B: received → not-accepted → closed. A: in-transit → not-accepted → compensating (refund,
    void receipt, return materials, notify) → closed-rejected."""
    case_no = await submit(pair, origin, T_NOT_ACCEPT, fee_fen=1000)
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert statuses(b) == ["received", "not-accepted", "closed"]
    assert statuses(a)[-4:] == ["in-transit", "not-accepted", "compensating", "closed-rejected"]
    assert await journal(dsn_a, case_no) == [
        (TAKE, 0),
        (RECEIPT, 0),
        (FEE, 1000),
        (REFUND, 1000),
        (VOID, 0),
        (RETURN, 0),
        (NOTIFY, 0),
    ]


async def test_denied_compensates(pair: ProvincePair, origin: NodeSettings, dsn_a: str) -> None:
    """B: processing → denied → result-sent → closed. A: result-received → compensating →
    closed-rejected."""
    case_no = await submit(pair, origin, T_DENY, fee_fen=500)
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert statuses(b) == ["received", "processing", "denied", "result-sent", "closed"]
    assert statuses(a)[-3:] == ["result-received", "compensating", "closed-rejected"]
    assert (a.outcome, b.outcome) == ("denied", "denied")
    assert [e for e, _ in await journal(dsn_a, case_no)][-4:] == [REFUND, VOID, RETURN, NOTIFY]


async def test_supplement_requested_by_the_processing_region(
    pair: ProvincePair, origin: NodeSettings, dsn_b: str
) -> None:
    """B: processing → supplement-requested (clock paused) → processing (clock resumes) →
    approved. A: processing → supplement-requested → processing (补正 sent) → ... → closed."""
    case_no = await submit(pair, origin, T_B_DECIDES)
    await b_reaches(pair, case_no, "processing")
    deadline_before = (await b_reaches(pair, case_no, "processing")).deadline
    await processing(pair, case_no).execute_update(
        "request_supplement", SupplementRequest(missing=("婚姻状况证明",), reason="需补充")
    )
    await a_reaches(pair, case_no, "supplement-requested")
    await intake(pair, case_no).execute_update(
        "provide_supplement", SupplementMaterials(materials=(material("婚姻状况证明"),))
    )
    resumed = await b_until(
        pair,
        case_no,
        lambda p: p.status == "processing" and "补正 received" in p.steps[-1].detail,
        what="processing again with the 补正 received",
    )
    assert resumed.deadline is not None
    assert deadline_before is not None
    assert resumed.deadline > deadline_before  # the paused time was given back
    await processing(pair, case_no).execute_update(
        "decide", Decision(approve=True, reason="补正后符合")
    )
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert statuses(b) == [
        "received",
        "processing",
        "supplement-requested",
        "processing",
        "approved",
        "result-sent",
        "closed",
    ]
    assert statuses(a)[5:9] == [
        "processing",
        "supplement-requested",
        "processing",
        "result-received",
    ]


async def test_supplement_not_provided_in_time_is_deemed_withdrawn(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str, dsn_b: str
) -> None:
    """B: supplement-requested → (the item's 补正 working days pass) → deemed-withdrawn (视为撤回,
    acceptance notice revoked) → closed-deemed-withdrawn; `cancelled` under step
    `deemed-withdrawn`. A: supplement-requested → processing → deemed-withdrawn → compensating
    → closed-deemed-withdrawn: the same ending of its own on both sides."""
    case_no = await submit(pair, origin, T_B_DECIDES)
    await b_reaches(pair, case_no, "processing")
    await processing(pair, case_no).execute_update(
        "request_supplement", SupplementRequest(missing=("证明",))
    )
    b = await b_closed(pair, case_no)
    assert statuses(b)[-3:] == [
        "supplement-requested",
        "deemed-withdrawn",
        "closed-deemed-withdrawn",
    ]
    a = await a_closed(pair, case_no)
    assert (a.status, a.outcome, b.outcome) == (
        "closed-deemed-withdrawn",
        "deemed-withdrawn",
        "deemed-withdrawn",
    )
    assert statuses(a)[-3:] == ["deemed-withdrawn", "compensating", "closed-deemed-withdrawn"]
    assert agree(IntakePhase(a.status), a.outcome, b.outcome)
    assert [e for e, _ in await journal(dsn_b, case_no)] == [
        "issue-acceptance-notice",
        "revoke-acceptance-notice",
    ]
    assert [e for e, _ in await journal(dsn_a, case_no)][-3:] == [VOID, RETURN, NOTIFY]


async def test_an_item_whose_rules_refuse_a_missed_supplement(
    pair: ProvincePair, origin: NodeSettings
) -> None:
    """`on_missed_supplement: refused` (GG-99014): B: supplement-requested → (due) → denied →
    result-sent → closed; A compensates a denial."""
    case_no = await submit(pair, origin, T_REFUSE_MISSED)
    await b_reaches(pair, case_no, "processing")
    await processing(pair, case_no).execute_update(
        "request_supplement", SupplementRequest(missing=("证明",))
    )
    b = await b_closed(pair, case_no)
    assert statuses(b)[-4:] == ["supplement-requested", "denied", "result-sent", "closed"]
    a = await a_closed(pair, case_no)
    assert (a.status, a.outcome) == ("closed-rejected", "denied")


async def test_supplement_before_acceptance_then_accepted(
    pair: ProvincePair, origin: NodeSettings
) -> None:
    """B: received → supplement-before-acceptance (from `received`) → received (the file complete
    again) → processing. A: in-transit → supplement-before-acceptance → in-transit (补正 sent) →
    processing."""
    case_no = await submit(pair, origin, T_BEFORE_ACCEPTANCE)
    await b_reaches(pair, case_no, "received")
    await processing(pair, case_no).execute_update(
        "request_supplement", SupplementRequest(missing=("户口簿",), reason="缺少户口簿")
    )
    await a_reaches(pair, case_no, "supplement-before-acceptance")
    await intake(pair, case_no).execute_update(
        "provide_supplement", SupplementMaterials(materials=(material("户口簿"),))
    )
    await b_until(
        pair,
        case_no,
        lambda p: p.status == "received" and "补正 received" in p.steps[-1].detail,
        what="received again with the 补正",
    )
    await processing(pair, case_no).execute_update(
        "decide_acceptance", AcceptanceDecision(accept=True)
    )
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert statuses(b)[:4] == ["received", "supplement-before-acceptance", "received", "processing"]
    assert statuses(a)[4:8] == [
        "in-transit",
        "supplement-before-acceptance",
        "in-transit",
        "processing",
    ]
    assert (a.outcome, b.outcome) == ("approved", "approved")


async def test_supplement_before_acceptance_not_provided_is_deemed_withdrawn(
    pair: ProvincePair, origin: NodeSettings, dsn_b: str
) -> None:
    """B: supplement-before-acceptance → (2 working days) → deemed-withdrawn →
    closed-deemed-withdrawn, nothing issued to revoke. A: supplement-before-acceptance →
    in-transit → deemed-withdrawn → compensating → closed-deemed-withdrawn."""
    case_no = await submit(pair, origin, T_BEFORE_ACCEPTANCE)
    await b_reaches(pair, case_no, "received")
    await processing(pair, case_no).execute_update(
        "request_supplement", SupplementRequest(missing=("户口簿",))
    )
    b = await b_closed(pair, case_no, timeout=40)
    a = await a_closed(pair, case_no, timeout=30)
    assert statuses(b) == [
        "received",
        "supplement-before-acceptance",
        "deemed-withdrawn",
        "closed-deemed-withdrawn",
    ]
    assert (a.outcome, b.outcome) == ("deemed-withdrawn", "deemed-withdrawn")
    assert a.status == b.status == "closed-deemed-withdrawn"
    assert agree(IntakePhase(a.status), a.outcome, b.outcome)
    assert await journal(dsn_b, case_no) == []


async def test_a_second_supplement_request_only_for_what_the_last_supplement_raised(
    pair: ProvincePair, origin: NodeSettings
) -> None:
    """一次性告知: B's second 补正 request without `concerns_new_materials` is refused by the
    validator with the rule's name, and changes nothing; one that names the materials the last
    补正 brought goes out, and its notice says what it concerns."""
    case_no = await submit(pair, origin, T_B_DECIDES)
    handle_a, handle_b = intake(pair, case_no), processing(pair, case_no)
    await b_reaches(pair, case_no, "processing")
    await handle_b.execute_update("request_supplement", SupplementRequest(missing=("户口簿",)))
    await a_reaches(pair, case_no, "supplement-requested")
    await handle_a.execute_update(
        "provide_supplement", SupplementMaterials(materials=(material("户口簿"),))
    )
    await b_until(
        pair,
        case_no,
        lambda p: p.status == "processing" and "补正 received" in p.steps[-1].detail,
        what="processing again with the 补正",
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle_b.execute_update("request_supplement", SupplementRequest(missing=("结婚证",)))
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "StepRuleBroken"
    assert cause.details == ("one_time_notice",)
    assert (await b_reaches(pair, case_no, "processing")).status == "processing"
    await handle_b.execute_update(
        "request_supplement",
        SupplementRequest(
            missing=("更名证明",),
            reason="户口簿显示曾用名",
            concerns_new_materials=True,
            concerning=("户口簿",),
        ),
    )
    a = await a_reaches(pair, case_no, "supplement-requested")
    assert a.steps[-1].detail == "更名证明"
    await handle_a.execute_update("withdraw", Withdrawal(reason="测试结束"))
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert agree(IntakePhase(a.status), a.outcome, b.outcome)


async def test_withdrawal_before_forwarding(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str
) -> None:
    """A: formal-review → (withdraw) → compensating → closed-withdrawn; nothing reaches B."""
    case_no = await submit(pair, origin, T_MANUAL)
    await a_reaches(pair, case_no, "formal-review")
    await intake(pair, case_no).execute_update("withdraw", Withdrawal(reason="申请人撤回"))
    a = await a_closed(pair, case_no)
    assert (a.status, a.outcome) == ("closed-withdrawn", "withdrawn")
    assert "forwarded" not in statuses(a)
    assert await journal(dsn_a, case_no) == [(TAKE, 0), (RETURN, 0), (NOTIFY, 0)]


async def test_withdrawal_after_acceptance_cancels_the_processing_side(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str, dsn_b: str
) -> None:
    """A: processing → withdrawal-requested → compensating → closed-withdrawn. B: processing →
    cancelled (acceptance notice revoked) → closed-withdrawn: a withdrawal ends in its own
    status on both sides, not as a refusal."""
    case_no = await submit(pair, origin, T_B_DECIDES_FEE, fee_fen=800)
    await a_reaches(pair, case_no, "processing")
    await intake(pair, case_no).execute_update("withdraw", Withdrawal(reason="不再需要"))
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert statuses(b)[-2:] == ["cancelled", "closed-withdrawn"]
    assert b.outcome == "cancelled"
    assert statuses(a)[-3:] == ["withdrawal-requested", "compensating", "closed-withdrawn"]
    assert [e for e, _ in await journal(dsn_b, case_no)] == [
        "issue-acceptance-notice",
        "revoke-acceptance-notice",
    ]
    assert [e for e, _ in await journal(dsn_a, case_no)][-4:] == [REFUND, VOID, RETURN, NOTIFY]


async def test_no_answer_recalls_and_waits_for_the_processing_region(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str
) -> None:
    """A: in-transit → (answer timeout) → transfer-failed → recall-requested, and no further:
    only B's answer to the recall may close the case, so nothing is refunded while B could
    still act on it; after `cancel_timeout` operators are alarmed. 北京 (110000) runs no node
    in this suite, so nothing ever answers."""
    case_no = await submit(pair, origin, T_NO_ANSWER, fee_fen=300, processing_region="110000")
    await a_reaches(pair, case_no, "recall-requested", timeout=30)
    effects = await eventually(
        lambda: journal(dsn_a, case_no),
        until=lambda done: ("escalate-unanswered", 0) in done,
        timeout=30,
        what="the unanswered recall escalated",
    )
    a = await a_reaches(pair, case_no, "recall-requested")
    assert statuses(a)[-3:] == ["in-transit", "transfer-failed", "recall-requested"]
    assert not a.closed
    assert (REFUND, 300) not in effects


async def test_b_that_does_not_answer_in_time_has_accepted_as_of_the_receipt_day(
    pair: ProvincePair, origin: NodeSettings, dsn_b: str
) -> None:
    """行政许可法 Art. 32: B: received → (1 acceptance working day, nobody accepts, refuses or
    asks for 补正) → deemed-accepted → processing, with its own notice and the deadline counted
    from the receipt; `accepted` to A, which processes the case as accepted. An officer's
    acceptance afterwards is refused: the case is accepted already."""
    case_no = await submit(pair, origin, T_LATE_ACCEPTANCE)
    b = await b_until(
        pair,
        case_no,
        lambda p: p.status == "processing" and "deemed-accepted" in statuses(p),
        timeout=40,
        what="deemed accepted",
    )
    received = next(s for s in b.steps if s.status == "received")
    deemed = next(s for s in b.steps if s.status == "deemed-accepted")
    assert "逾期未告知补正，自收到申请材料之日起即为受理" in deemed.detail
    # 20 working days of 5 s from the receipt, not from the day it was deemed accepted.
    assert b.deadline == received.at + timedelta(seconds=100)
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await processing(pair, case_no).execute_update(
            "decide_acceptance", AcceptanceDecision(accept=True)
        )
    await a_reaches(pair, case_no, "processing")
    await processing(pair, case_no).execute_update(
        "decide", Decision(approve=True, reason="符合条件")
    )
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert statuses(b) == [
        "received",
        "deemed-accepted",
        "processing",
        "approved",
        "result-sent",
        "closed",
    ]
    assert (a.outcome, b.outcome) == ("approved", "approved")
    assert agree(IntakePhase(a.status), a.outcome, b.outcome)
    assert [e for e, _ in await journal(dsn_b, case_no)] == ["issue-deemed-acceptance-notice"]


async def test_deadline_warning_and_breach(
    pair: ProvincePair, origin: NodeSettings, dsn_b: str
) -> None:
    """B: processing → deadline warning → deadline breached + escalation (Overdue); A: notes both
    and marks the case overdue; a late decision still closes the case."""
    case_no = await submit(pair, origin, T_DEADLINE)

    def noted(progress: CaseProgress, what: str) -> bool:
        return any(step.detail == what for step in progress.steps)

    b = await b_until(pair, case_no, lambda p: noted(p, "deadline breached"), timeout=40)
    assert noted(b, "deadline warning")
    assert b.overdue
    # 法定时限 (3 working days) tracked too: its own warning, breach and escalation.
    assert b.statutory_deadline is not None
    assert b.deadline is not None
    assert b.statutory_deadline > b.deadline
    b = await b_until(pair, case_no, lambda p: noted(p, "statutory deadline breached"), timeout=40)
    assert noted(b, "statutory deadline warning")
    a = await a_until(pair, case_no, lambda p: p.overdue, timeout=20)
    assert any(step.detail.startswith("deadline warning") for step in a.steps)
    assert [e for e, _ in await journal(dsn_b, case_no)].count("escalate-overdue") == 2
    await processing(pair, case_no).execute_update(
        "decide", Decision(approve=True, reason="逾期办结")
    )
    assert (await a_closed(pair, case_no)).status == "closed"


async def test_steps_not_allowed_now_are_refused_and_change_nothing(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str
) -> None:
    """Update validators: a step in the wrong state, or on an automatic step, is refused."""
    case_no = await submit(pair, origin, T_MANUAL)
    await a_reaches(pair, case_no, "formal-review")
    handle_a = intake(pair, case_no)
    with pytest.raises(WorkflowUpdateFailedError) as wrong_state:
        await handle_a.execute_update("confirm_delivery", DeliveryConfirmation(channel="window"))
    assert "not expected in status formal-review" in str(wrong_state.value.cause)
    with pytest.raises(WorkflowUpdateFailedError):
        await handle_a.execute_update(
            "provide_supplement", SupplementMaterials(materials=(material("x"),))
        )
    with pytest.raises(WorkflowUpdateFailedError):  # mail needs a tracking number: invalid input
        await handle_a.execute_update("confirm_delivery", {"channel": "mail"})
    progress = await a_reaches(pair, case_no, "formal-review")
    assert statuses(progress) == ["received", "formal-review"]
    await handle_a.execute_update("withdraw", Withdrawal(reason="测试结束"))
    # Refused by the validator while compensating, or by the server once the case has closed.
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await handle_a.execute_update("withdraw", Withdrawal(reason="again"))
    await a_closed(pair, case_no)
    assert await journal(dsn_a, case_no) == [(TAKE, 0), (RETURN, 0), (NOTIFY, 0)]

    auto_case = await submit(pair, origin, T_B_DECIDES)
    await b_reaches(pair, auto_case, "processing")
    with pytest.raises(WorkflowUpdateFailedError) as automatic:
        await processing(pair, auto_case).execute_update(
            "decide_acceptance", AcceptanceDecision(accept=True)
        )
    assert "not expected" in str(automatic.value.cause)
    await processing(pair, auto_case).execute_update(
        "decide", Decision(approve=False, reason="不符合")
    )
    assert (await a_closed(pair, auto_case)).status == "closed-rejected"


async def test_long_cases_continue_as_new(pair: ProvincePair, origin: NodeSettings) -> None:
    """Many 补正 rounds push A's history past its limit: the workflow continues as new and
    still closes with its whole timeline."""
    case_no = await submit(pair, origin, T_CAN)
    handle_a = intake(pair, case_no)
    first_run = (await handle_a.describe()).run_id
    for round_no in range(4):
        await a_reaches(pair, case_no, "formal-review")
        # 一次性告知: each later round concerns what the last 补正 brought.
        follow_up = {"concerns_new_materials": True, "concerning": (f"材料{round_no - 1}",)}
        await handle_a.execute_update(
            "record_formal_review",
            FormalReview(
                outcome="supplement",
                missing=(f"材料{round_no}",),
                **(follow_up if round_no else {}),
            ),
        )
        await a_reaches(pair, case_no, "supplement-pending")
        await handle_a.execute_update(
            "provide_supplement", SupplementMaterials(materials=(material(f"材料{round_no}"),))
        )
    await a_reaches(pair, case_no, "formal-review")
    await handle_a.execute_update("withdraw", Withdrawal(reason="结束"))
    a = await a_closed(pair, case_no)
    assert (await intake(pair, case_no).describe()).run_id != first_run
    assert statuses(a).count("supplement-pending") == 4


async def _case_file(dsn: str, case_no: str) -> list[str]:
    found = await rows(dsn, "SELECT materials::text FROM cases WHERE case_no = $1", case_no)
    return [m["name"] for m in json.loads(found[0]["materials"])] if found else []


async def _push_history_until_continued(
    pair: ProvincePair, handle: WorkflowHandle[Any, Any], sender: str, case_no: str
) -> None:
    """Grow a waiting workflow's history past its limit: events the phase does not take
    (noted and ignored, as a stray or late event would be) until the run continues as new."""
    first_run = (await handle.describe()).run_id
    for number in range(40):
        await handle.signal(
            "case_event",
            InboundEvent(
                event_id=f"stray-{case_no}-{number}",
                type=EventType.RECEIPT,
                sender_region=sender,
                time=datetime.now(UTC),
                data={},
            ),
        )
        if (await handle.describe()).run_id != first_run:
            return
    raise AssertionError("the workflow did not continue as new")


async def test_continue_as_new_while_the_window_waits_for_supplement(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str, dsn_b: str
) -> None:
    """A continues as new while its own 补正 is pending, then still takes the 补正: the
    carry is the whole state (defect: the old carry dropped what the window was waiting for)."""
    case_no = await submit(pair, origin, T_CAN)
    handle_a = intake(pair, case_no)
    await a_reaches(pair, case_no, "formal-review")
    await handle_a.execute_update(
        "record_formal_review", FormalReview(outcome="supplement", missing=("户口簿",))
    )
    await a_reaches(pair, case_no, "supplement-pending")
    await _push_history_until_continued(pair, handle_a, B, case_no)
    await a_reaches(pair, case_no, "supplement-pending")
    ack = await handle_a.execute_update(
        "provide_supplement", SupplementMaterials(materials=(material("户口簿"),))
    )
    assert ack["status"] == "formal-review"
    await handle_a.execute_update("record_formal_review", FormalReview(outcome="pass"))
    await b_reaches(pair, case_no, "received")
    assert "户口簿" in await _case_file(dsn_b, case_no)
    await handle_a.execute_update("withdraw", Withdrawal(reason="测试结束"))
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert agree(IntakePhase(a.status), a.outcome, b.outcome)


async def test_continue_as_new_while_the_processing_region_waits_for_supplement(
    pair: ProvincePair, origin: NodeSettings, dsn_b: str
) -> None:
    """B continues as new with its clock paused for 补正; A's 补正 then resumes the clock and
    joins B's case file, and the case closes approved on both sides."""
    case_no = await submit(pair, origin, T_CAN)
    handle_a, handle_b = intake(pair, case_no), processing(pair, case_no)
    await a_reaches(pair, case_no, "formal-review")
    await handle_a.execute_update("record_formal_review", FormalReview(outcome="pass"))
    await b_reaches(pair, case_no, "received")
    await handle_b.execute_update("decide_acceptance", AcceptanceDecision(accept=True))
    await handle_b.execute_update(
        "request_supplement", SupplementRequest(missing=("婚姻状况证明",), reason="需补充")
    )
    await b_reaches(pair, case_no, "supplement-requested")
    await _push_history_until_continued(pair, handle_b, A, case_no)
    await a_reaches(pair, case_no, "supplement-requested")
    await handle_a.execute_update(
        "provide_supplement", SupplementMaterials(materials=(material("婚姻状况证明"),))
    )
    await b_until(
        pair,
        case_no,
        lambda p: p.status == "processing" and "补正 received" in p.steps[-1].detail,
        what="B's clock resumed by the 补正",
    )
    assert "婚姻状况证明" in await _case_file(dsn_b, case_no)
    await handle_b.execute_update("decide", Decision(approve=True, reason="补正后符合"))
    await a_reaches(pair, case_no, "result-received")
    await handle_a.execute_update("confirm_delivery", DeliveryConfirmation(channel="window"))
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert (a.outcome, b.outcome) == ("approved", "approved")


async def test_window_supplement_reaches_the_processing_case_file(
    pair: ProvincePair, origin: NodeSettings, dsn_a: str, dsn_b: str
) -> None:
    """补正 materials handed in at A's window during formal review travel in the forwarded
    event: B's case file holds them (defect: the event was built from the unchanged row)."""
    case_no = await submit(pair, origin, T_MANUAL, materials=(material("申请表"),))
    handle_a = intake(pair, case_no)
    await a_reaches(pair, case_no, "formal-review")
    await handle_a.execute_update(
        "record_formal_review", FormalReview(outcome="supplement", missing=("户口簿",))
    )
    await a_reaches(pair, case_no, "supplement-pending")
    await handle_a.execute_update(
        "provide_supplement", SupplementMaterials(materials=(material("户口簿"),))
    )
    assert await _case_file(dsn_a, case_no) == ["申请表", "户口簿"]
    await handle_a.execute_update("record_formal_review", FormalReview(outcome="pass"))
    await b_reaches(pair, case_no, "received")
    assert await _case_file(dsn_b, case_no) == ["申请表", "户口簿"]
    await processing(pair, case_no).execute_update(
        "decide_acceptance", AcceptanceDecision(accept=False, reason="测试结束")
    )
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    assert (a.outcome, b.outcome) == ("not-accepted", "not-accepted")


async def test_answer_timeout_while_b_is_about_to_accept_ends_in_a_matching_pair(
    pair: ProvincePair, origin: NodeSettings, dsn_b: str
) -> None:
    """A's answer deadline passes while B's officer has not yet accepted: A recalls, B cancels
    and answers, A compensates; B's acceptance afterwards is refused (defect: A refunded and
    closed alone, and B could still accept and approve)."""
    case_no = await submit(pair, origin, T_MANUAL)
    await a_reaches(pair, case_no, "formal-review")
    await intake(pair, case_no).execute_update("record_formal_review", FormalReview(outcome="pass"))
    await b_reaches(pair, case_no, "received")
    a = await a_closed(pair, case_no, timeout=40)  # answer_timeout is 8 s
    b = await b_closed(pair, case_no)
    assert statuses(a)[-5:] == [
        "in-transit",
        "transfer-failed",
        "recall-requested",
        "compensating",
        "closed-rejected",
    ]
    assert statuses(b) == ["received", "cancelled", "closed"]
    assert (a.outcome, b.outcome) == ("transfer-failed", "cancelled")
    assert agree(IntakePhase(a.status), a.outcome, b.outcome)
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await processing(pair, case_no).execute_update(
            "decide_acceptance", AcceptanceDecision(accept=True)
        )
    assert [e for e, _ in await journal(dsn_b, case_no)] == []
