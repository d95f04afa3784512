"""The rules of acceptance and 补正 (行政许可法; decision 0026) in the lifecycle models, on real
dates and the real holiday calendar: 2026's National Day (Oct 1-7, with Saturday Oct 10 a
working day, 调休) and Spring Festival (Feb 15-23, with Saturdays Feb 14 and 28 working days)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import chinese_calendar
import pytest

from events.envelope import event_id_for
from events.models import EventType, InboundEvent, MaterialRef
from workflows.deadlines import CST
from workflows.lifecycle import intake as A
from workflows.lifecycle import processing as B
from workflows.lifecycle.engine import Trigger
from workflows.lifecycle.vocabulary import (
    AcceptanceDecision,
    ApplyEffect,
    AutoPolicy,
    CaseTimings,
    Effect,
    FormalReview,
    SendDecision,
    SendEvent,
    SupplementMaterials,
    SupplementRequest,
)

CASE = "350000-20260928-RULES001"
ORIGIN, PROCESSING = "350000", "440000"
MANUAL = AutoPolicy(
    formal_review="manual", acceptance="manual", decision="manual", delivery="manual"
)
REAL_DAYS = CaseTimings()  # working_day None: the holiday calendar


def at(month: int, day: int, hour: int = 10, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CST)


def end_of(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 23, 59, 59, tzinfo=CST)


def test_the_calendar_has_the_2026_days_these_tests_rely_on() -> None:
    assert chinese_calendar.is_holiday(at(10, 5).date())  # National Day, a Monday
    assert chinese_calendar.is_workday(at(10, 10).date())  # Saturday, 调休
    assert chinese_calendar.is_holiday(at(2, 16).date())  # Spring Festival, a Monday
    assert chinese_calendar.is_workday(at(2, 14).date())  # Saturday, 调休
    assert chinese_calendar.is_workday(at(2, 28).date())  # Saturday, 调休


def material(name: str) -> MaterialRef:
    return MaterialRef(name=name, sha256=f"{abs(hash(name)) % 16**8:08x}" * 8, ref=f"w://{name}")


def event(kind: EventType, step: str, when: datetime, **data: Any) -> InboundEvent:
    return InboundEvent(
        event_id=event_id_for(CASE, step, ORIGIN),
        type=kind,
        sender_region=ORIGIN,
        time=when,
        data={"case_no": CASE, **data},
    )


class Processing:
    """B's model driven by hand: each call is one move at a given time."""

    def __init__(self, **start: Any) -> None:
        self.begin = B.ProcessingStart(
            case_no=CASE,
            processing_region=PROCESSING,
            promised_working_days=start.pop("promised", 10),
            policy=MANUAL,
            timings=REAL_DAYS,
            **start,
        )
        self.state = B.start(self.begin)
        self.writes: list[Any] = []

    def move(self, trigger: Trigger[B.On], now: datetime) -> B.ProcessingState:
        result = B.step(self.begin, self.state, trigger, now)
        assert result.applied, f"{trigger.kind} not applied in {self.state.phase}"
        self.state = result.state
        self.writes += result.writes
        return self.state

    def receive(self, now: datetime) -> None:
        forwarded = event(EventType.FORWARDED, "forwarded", now, materials=[])
        self.move(Trigger(B.On.FORWARDED, "event", forwarded, event_id=forwarded.event_id), now)

    def person(self, given: Any, now: datetime) -> None:
        assert B.allows(self.begin, self.state, B.input_trigger(given).kind)
        assert B.refusal(self.begin, self.state, given) is None
        self.move(B.input_trigger(given), now)

    def supplement(self, names: tuple[str, ...], now: datetime, round_no: int = 1) -> None:
        given = event(
            EventType.SUPPLEMENT_PROVIDED,
            f"supplement-provided:{round_no}",
            now,
            materials=[material(n).model_dump(mode="json") for n in names],
        )
        kind = B.On.SUPPLEMENT_PROVIDED
        self.move(Trigger(kind, "event", given, event_id=given.event_id), now)

    def timer(self) -> tuple[datetime, B.On]:
        due = B.due(self.begin, self.state)
        assert due is not None
        return due[0], due[1].kind

    def fire(self) -> datetime:
        when, _ = self.timer()
        due = B.due(self.begin, self.state)
        assert due is not None
        self.move(due[1], when)
        return when

    def sent(self, kind: EventType) -> list[SendEvent]:
        return [w for w in self.writes if isinstance(w, SendEvent) and w.event_type is kind]

    def effects(self) -> list[ApplyEffect]:
        return [w for w in self.writes if isinstance(w, ApplyEffect)]

    def statuses(self) -> list[str]:
        return [step.status for step in self.state.steps]


# --- 行政许可法 Art. 32: no answer within 5 working days is acceptance on the receipt day ---


def test_b_that_neither_accepts_refuses_nor_asks_has_accepted_on_the_receipt_day() -> None:
    """Received Mon Sep 28: five working days are Sep 29, 30, Oct 8, 9 and Sat Oct 10 (调休),
    the National Day week skipped. Unanswered then, the case is accepted as of Sep 28, and both
    time limits count from Sep 28, not from Oct 10."""
    b = Processing(promised=10, statutory_working_days=20)
    b.receive(at(9, 28))
    assert b.timer() == (end_of(10, 10), B.On.ACCEPTANCE_DUE)
    b.fire()
    assert b.state.phase is B.Phase.PROCESSING
    assert b.statuses()[-2:] == ["deemed-accepted", "processing"]
    deemed = next(s for s in b.state.steps if s.status == "deemed-accepted")
    assert "逾期未告知补正，自收到申请材料之日起即为受理（2026-09-28）" in deemed.detail
    # 10 working days from Sep 28: Sep 29, 30, Oct 8, 9, 10, 12, 13, 14, 15, 16.
    assert b.state.deadline == end_of(10, 16)
    # 20: ... Oct 19-23, 26-30.
    assert b.state.statutory_deadline == end_of(10, 30)
    assert [e.effect for e in b.effects()] == [Effect.ISSUE_DEEMED_ACCEPTANCE_NOTICE]
    (accepted,) = b.sent(EventType.ACCEPTED)
    assert accepted.data["deadline"] == end_of(10, 16).isoformat()


def test_an_answer_within_the_five_days_stops_the_rule() -> None:
    b = Processing()
    b.receive(at(9, 28))
    b.person(AcceptanceDecision(accept=True), at(10, 9))
    assert b.state.phase is B.Phase.PROCESSING
    assert "deemed-accepted" not in b.statuses()
    assert b.state.deadline == end_of(10, 22)  # 10 working days from Oct 9: 10 (调休), 12-16, 19-22
    assert B.due(b.begin, b.state) is not None
    assert B.due(b.begin, b.state)[1].kind is B.On.WARN  # type: ignore[index]


# --- 补正 before acceptance ---


def test_supplement_before_acceptance_stops_the_acceptance_clock_and_restarts_it() -> None:
    """Asked on Thu Feb 12 with 3 working days: Fri 13, Sat 14 (调休), then Tue Feb 24 after
    Spring Festival. Provided on Feb 25, the file is complete then: the five days (and Art. 32's
    receipt day) count from Feb 25."""
    b = Processing(supplement_working_days=3)
    b.receive(at(2, 11))
    b.person(SupplementRequest(missing=("户口簿",), reason="缺少户口簿"), at(2, 12))
    assert b.state.phase is B.Phase.SUPPLEMENT_BEFORE_ACCEPTANCE
    assert b.timer() == (end_of(2, 24), B.On.SUPPLEMENT_DUE)
    (asked,) = b.sent(EventType.SUPPLEMENT_REQUESTED)
    assert asked.data["due"] == end_of(2, 24).isoformat()
    b.supplement(("户口簿",), at(2, 25))
    assert b.state.status == "received"
    assert b.timer() == (end_of(3, 3), B.On.ACCEPTANCE_DUE)  # Feb 26, 27, Sat 28 (调休), Mar 2, 3
    b.fire()
    assert b.state.deadline == end_of(3, 10)  # 10 working days from Feb 25: ... Mar 4-6, 9, 10
    deemed = next(s for s in b.state.steps if s.status == "deemed-accepted")
    assert "（2026-02-25）" in deemed.detail


# --- a missed 补正: 视为撤回, or refused where the item's rules say so ---


def test_a_missed_supplement_after_acceptance_is_deemed_withdrawn_on_both_sides() -> None:
    b = Processing(supplement_working_days=3)
    b.receive(at(2, 9))
    b.person(AcceptanceDecision(accept=True), at(2, 10))
    b.person(SupplementRequest(missing=("证明",)), at(2, 12))
    assert b.timer() == (end_of(2, 24), B.On.SUPPLEMENT_DUE)
    b.fire()
    assert b.state.closed
    assert b.state.outcome == "deemed-withdrawn"
    assert b.statuses()[-2:] == ["deemed-withdrawn", "closed-deemed-withdrawn"]
    assert [e.effect for e in b.effects()] == [
        Effect.ISSUE_ACCEPTANCE_NOTICE,
        Effect.REVOKE_ACCEPTANCE_NOTICE,
    ]
    (cancelled,) = b.sent(EventType.CANCELLED)
    assert cancelled.step == "deemed-withdrawn"

    # A, which relayed the 补正 and stopped taking it at the due time, hears the end from B.
    request = A.IntakeRequest(
        case_no=CASE,
        item_code="GG-99001-000",
        item_version=1,
        origin_region=ORIGIN,
        processing_region=PROCESSING,
        policy=MANUAL,
        timings=REAL_DAYS,
    )
    a = A.IntakeState(case_no=CASE, region=ORIGIN, status="processing", phase=A.Phase.PROCESSING)
    answer = InboundEvent(
        event_id=event_id_for(CASE, cancelled.step, PROCESSING),
        type=EventType.CANCELLED,
        sender_region=PROCESSING,
        time=at(2, 25),
        data=dict(cancelled.data),
    )
    a = A.receive(a, answer)
    trigger = A.next_trigger(request, a, at(2, 25))
    assert trigger is not None
    assert trigger.kind is A.On.DEEMED_WITHDRAWN
    a = A.step(request, a, trigger, at(2, 25)).state
    assert (a.phase, a.outcome) == (A.Phase.COMPENSATING, "deemed-withdrawn")
    # Nothing to undo: A ends at once, in 视为撤回's own ending like B, not as a refusal.
    trigger = A.next_trigger(request, a, at(2, 25))
    assert trigger is not None
    assert trigger.kind is A.On.COMPENSATED_DEEMED_WITHDRAWN
    a = A.step(request, a, trigger, at(2, 25)).state
    assert a.closed
    assert a.status == b.state.status == "closed-deemed-withdrawn"


@pytest.mark.parametrize(
    ("accept_first", "ends", "sent"),
    [
        (False, ["not-accepted", "closed"], EventType.NOT_ACCEPTED),
        (True, ["denied", "result-sent"], None),
    ],
)
def test_an_item_whose_rules_refuse_a_missed_supplement(
    accept_first: bool, ends: list[str], sent: EventType | None
) -> None:
    b = Processing(supplement_working_days=3, on_missed_supplement="refused")
    b.receive(at(2, 9))
    if accept_first:
        b.person(AcceptanceDecision(accept=True), at(2, 10))
    b.person(SupplementRequest(missing=("证明",)), at(2, 12))
    assert b.timer()[1] is B.On.SUPPLEMENT_DUE_REFUSED
    b.fire()
    assert b.statuses()[-2:] == ends
    if sent is not None:
        assert b.state.outcome == "not-accepted"
        assert b.sent(sent)[0].data["reason"] == "补正 not provided in time"
    else:
        assert b.state.outcome == "denied"
        assert any(isinstance(w, SendDecision) and w.outcome == "denied" for w in b.writes)


def test_a_missed_supplement_at_the_window_is_deemed_withdrawn_in_working_days() -> None:
    """A's own formal review: 补正 asked on Wed Sep 30 with the default 15 working days is due
    Oct 27 (Oct 8, 9, 10 (调休), 12-16, 19-23, 26, 27); missed, the case ends 视为撤回 at A."""
    request = A.IntakeRequest(
        case_no=CASE,
        item_code="GG-99001-000",
        item_version=1,
        origin_region=ORIGIN,
        processing_region=PROCESSING,
        policy=MANUAL,
        timings=REAL_DAYS,
    )
    a = A.step(request, A.start(request), Trigger(A.On.SUBMITTED, "workflow"), at(9, 30)).state
    review = FormalReview(outcome="supplement", missing=("户口簿",))
    a = A.step(request, a, A.input_trigger(review), at(9, 30)).state
    due = A.due(request, a)
    assert due is not None
    assert (due[0], due[1].kind) == (end_of(10, 27), A.On.SUPPLEMENT_DUE)
    a = A.step(request, a, due[1], due[0]).state
    assert (a.phase, a.outcome) == (A.Phase.COMPENSATING, "deemed-withdrawn")
    # An item whose rules refuse a missed 补正: 不予收件 at the window.
    refused = request.model_copy(update={"on_missed_supplement": "refused"})
    pending = A.step(request, A.start(request), Trigger(A.On.SUBMITTED, "workflow"), at(9, 30))
    pending_state = A.step(refused, pending.state, A.input_trigger(review), at(9, 30)).state
    due = A.due(refused, pending_state)
    assert due is not None
    assert due[1].kind is A.On.SUPPLEMENT_DUE_REFUSED
    ended = A.step(refused, pending_state, due[1], due[0]).state
    assert ended.outcome == "refused-at-intake"


# --- 一次性告知 ---


def test_a_second_supplement_request_only_for_what_the_last_supplement_raised() -> None:
    b = Processing()
    b.receive(at(9, 28))
    b.person(AcceptanceDecision(accept=True), at(9, 29))
    b.person(SupplementRequest(missing=("户口簿",)), at(9, 29))
    b.supplement(("户口簿",), at(9, 30))

    again = SupplementRequest(missing=("更名证明",))
    broken = B.refusal(b.begin, b.state, again)
    assert broken is not None
    assert broken.rule == "one_time_notice"
    other = SupplementRequest(
        missing=("更名证明",), concerns_new_materials=True, concerning=("身份证",)
    )
    broken = B.refusal(b.begin, b.state, other)
    assert broken is not None
    assert broken.rule == "supplement_concerns_other_materials"
    unnamed = SupplementRequest(missing=("更名证明",), concerns_new_materials=True)
    assert B.refusal(b.begin, b.state, unnamed) is not None

    follow_up = SupplementRequest(
        missing=("更名证明",),
        reason="户口簿显示曾用名",
        concerns_new_materials=True,
        concerning=("户口簿",),
    )
    b.person(follow_up, at(10, 8))
    notice = b.sent(EventType.SUPPLEMENT_REQUESTED)[-1]
    assert str(notice.data["reason"]).startswith("本次补正仅涉及申请人上次补正提交的材料（户口簿）")


def test_the_first_supplement_request_cannot_claim_to_follow_one() -> None:
    b = Processing()
    b.receive(at(9, 28))
    claim = SupplementRequest(missing=("证明",), concerns_new_materials=True, concerning=("x",))
    broken = B.refusal(b.begin, b.state, claim)
    assert broken is not None
    assert broken.rule == "supplement_without_earlier_round"


def test_the_window_s_formal_review_is_one_complete_list_too() -> None:
    request = A.IntakeRequest(
        case_no=CASE,
        item_code="GG-99001-000",
        item_version=1,
        origin_region=ORIGIN,
        processing_region=PROCESSING,
        policy=MANUAL,
        timings=REAL_DAYS,
    )
    a = A.step(request, A.start(request), Trigger(A.On.SUBMITTED, "workflow"), at(9, 28)).state
    first = FormalReview(outcome="supplement", missing=("户口簿",))
    assert A.refusal(request, a, first) is None
    a = A.step(request, a, A.input_trigger(first), at(9, 28)).state
    given = SupplementMaterials(materials=(material("户口簿"),))
    a = A.step(request, a, A.input_trigger(given), at(9, 29)).state
    assert a.phase is A.Phase.FORMAL_REVIEW
    broken = A.refusal(request, a, FormalReview(outcome="supplement", missing=("结婚证",)))
    assert broken is not None
    assert broken.rule == "one_time_notice"
    ok = FormalReview(
        outcome="supplement",
        missing=("结婚证",),
        concerns_new_materials=True,
        concerning=("户口簿",),
    )
    assert A.refusal(request, a, ok) is None
    assert A.refusal(request, a, FormalReview(outcome="pass")) is None


# --- 法定时限 and 承诺时限, both tracked ---


def test_both_time_limits_warn_and_breach_and_a_supplement_pauses_both() -> None:
    b = Processing(promised=5, statutory_working_days=10, supplement_working_days=5)
    b.receive(at(9, 21))
    b.person(AcceptanceDecision(accept=True), at(9, 21))
    # 5 from Mon Sep 21: 22, 23, 24, 28, 29 (Sep 25-27 Mid-autumn); 10: + 30, Oct 8, 9, 10, 12.
    assert (b.state.deadline, b.state.statutory_deadline) == (end_of(9, 29), end_of(10, 12))
    # Paused on Wed Sep 23 with 3 and 8 working days left (24, 28, 29; + 30, Oct 8, 9, 10, 12),
    # resumed on Thu Oct 8: 9, 10 (调休), 12; and 9, 10, 12-16, 19.
    b.person(SupplementRequest(missing=("证明",)), at(9, 23))
    b.supplement(("证明",), at(10, 8))
    assert (b.state.deadline, b.state.statutory_deadline) == (end_of(10, 12), end_of(10, 19))
    kinds = []
    while b.state.phase is B.Phase.PROCESSING and B.due(b.begin, b.state) is not None:
        kinds.append(b.timer()[1])
        b.fire()
    assert kinds == [B.On.WARN, B.On.BREACH, B.On.STATUTORY_WARN, B.On.STATUTORY_BREACH]
    notices = [
        (s.data["kind"], s.data["deadline"])
        for s in b.sent(EventType.DEADLINE_WARNING) + b.sent(EventType.DEADLINE_BREACHED)
    ]
    assert ("breached", end_of(10, 12).isoformat()) in notices
    assert ("breached", end_of(10, 19).isoformat()) in notices
    assert [e.key for e in b.effects()][-2:] == ["escalate-overdue", "escalate-overdue:statutory"]
    assert b.state.overdue
    assert b.state.statutory_overdue
