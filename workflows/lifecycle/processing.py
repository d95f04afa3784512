"""The processing region's (B, 办理地) lifecycle: phases, triggers, the table and the state.

B registers the forwarded case (its workflow starts only once the file is complete), and within
`acceptance_working_days` of receipt accepts it, refuses it or asks for 补正; if it does none of
these the case counts as accepted on the receipt day (行政许可法 Art. 32). It processes the case
(补正 requests pause the working-day clocks of both the promised and the statutory time limit; a
warning before each deadline, a breach event and escalation after it), decides, and waits for A
to deliver the result. A 补正 is one complete list (一次性告知); a missed 补正 ends the case as
视为撤回 unless the item's rules say it is refused. A withdrawal or a recall before the decision
revokes what B issued and is answered `cancelled`; after the decision it is answered with the
decision again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from events.models import CaseNo, EventType, InboundEvent, LegBrief, MaterialRef, RegionCode
from workflows.deadlines import CST, DeadlineClock
from workflows.lifecycle.engine import (
    CaseRecord,
    Handler,
    Result,
    Table,
    Trigger,
    Tx,
    apply,
    rows,
)
from workflows.lifecycle.engine import (
    receive as receive,
)
from workflows.lifecycle.vocabulary import (
    DEEMED_WITHDRAWN_STEP,
    REVOCATION_OF,
    REVOCATIONS,
    AcceptanceDecision,
    AddMaterials,
    AutoPolicy,
    CaseTimings,
    Decision,
    Effect,
    MissedSupplement,
    RegisterForwarded,
    RuleBroken,
    SendDecision,
    SupplementRequest,
    follow_up_reason,
    one_time_notice,
)


class Phase(StrEnum):
    """Where a processing case rests (each is also the status it shows)."""

    WAITING = "waiting-for-case"
    RECEIVED = "received"
    PROCESSING = "processing"
    SUPPLEMENT_BEFORE_ACCEPTANCE = "supplement-before-acceptance"  # 补正 asked before 受理
    SUPPLEMENT_REQUESTED = "supplement-requested"  # clock paused
    RESULT_SENT = "result-sent"
    CLOSED = "closed"  # decided and delivered, not accepted, recalled by A or revoked
    CLOSED_WITHDRAWN = "closed-withdrawn"  # the applicant withdrew (撤回)
    CLOSED_DEEMED_WITHDRAWN = "closed-deemed-withdrawn"  # a 补正 missed (视为撤回)


class Status(StrEnum):
    """Every status a processing case shows: its phases and the steps passed on the way."""

    WAITING = "waiting-for-case"
    RECEIVED = "received"
    NOT_ACCEPTED = "not-accepted"
    SUPPLEMENT_BEFORE_ACCEPTANCE = "supplement-before-acceptance"
    DEEMED_ACCEPTED = "deemed-accepted"
    PROCESSING = "processing"
    SUPPLEMENT_REQUESTED = "supplement-requested"
    DEEMED_WITHDRAWN = "deemed-withdrawn"
    APPROVED = "approved"
    DENIED = "denied"
    RESULT_SENT = "result-sent"
    CANCELLED = "cancelled"
    REVOKED = "revoked"  # 多地联办: an approved leg undone because another leg refused
    CLOSED = "closed"
    CLOSED_WITHDRAWN = "closed-withdrawn"
    CLOSED_DEEMED_WITHDRAWN = "closed-deemed-withdrawn"


LABELS: dict[Status, str] = {
    Status.WAITING: "待接收",
    Status.RECEIVED: "已接收（待受理）",
    Status.NOT_ACCEPTED: "不予受理",
    Status.SUPPLEMENT_BEFORE_ACCEPTANCE: "待补正（受理前）",
    Status.DEEMED_ACCEPTED: "视为受理",
    Status.PROCESSING: "办理中",
    Status.SUPPLEMENT_REQUESTED: "待补正（计时暂停）",
    Status.DEEMED_WITHDRAWN: "视为撤回",
    Status.APPROVED: "准予许可",
    Status.DENIED: "不予许可",
    Status.RESULT_SENT: "结果已发出",
    Status.CANCELLED: "已撤销",
    Status.REVOKED: "已撤销决定（联办）",
    Status.CLOSED: "办结",
    Status.CLOSED_WITHDRAWN: "撤回办结",
    Status.CLOSED_DEEMED_WITHDRAWN: "视为撤回办结",
}
TERMINAL = frozenset({Phase.CLOSED, Phase.CLOSED_WITHDRAWN, Phase.CLOSED_DEEMED_WITHDRAWN})


class On(StrEnum):
    """What moves a processing case."""

    FORWARDED = "forwarded"
    ACCEPT = "accept"
    NOT_ACCEPT = "not-accept"
    ACCEPTANCE_DUE = "acceptance-due"
    REQUEST_SUPPLEMENT = "request-supplement"
    SUPPLEMENT_PROVIDED = "supplement-provided"
    SUPPLEMENT_DUE = "supplement-due"
    SUPPLEMENT_DUE_REFUSED = "supplement-due-refused"
    WARN = "deadline-warning"
    BREACH = "deadline-breached"
    STATUTORY_WARN = "statutory-deadline-warning"
    STATUTORY_BREACH = "statutory-deadline-breached"
    APPROVE = "approve"
    DENY = "deny"
    WITHDRAWN = "withdrawn"
    RECALLED = "recalled"
    RESULT_DELIVERED = "result-delivered"
    DELIVERY_DUE = "delivery-due"
    REVOCATION_REQUESTED = "revocation-requested"
    OTHER = "other-event"


TRIGGER_LABELS: dict[On, str] = {
    On.FORWARDED: "A's `forwarded` event (signal-with-start by the inbox dispatcher)",
    On.ACCEPT: "受理: Update `decide_acceptance(accept)` or policy",
    On.NOT_ACCEPT: "不予受理: Update `decide_acceptance(not accept, reason)` or policy",
    On.ACCEPTANCE_DUE: "逾期未受理 (timer: `acceptance_working_days` from receipt; Art. 32)",
    On.REQUEST_SUPPLEMENT: "一次性告知补正: Update `request_supplement`",
    On.SUPPLEMENT_PROVIDED: "A's `supplement-provided` event",
    On.SUPPLEMENT_DUE: "补正期限届满 (timer: the due time sent with the request)",
    On.SUPPLEMENT_DUE_REFUSED: "补正期限届满, the item's rules refuse (`on_missed_supplement: "
    "refused`)",
    On.WARN: "承诺时限预警 (timer: `warn_fraction` of the promised time limit used)",
    On.BREACH: "承诺时限超期 (timer: the promised deadline)",
    On.STATUTORY_WARN: "法定时限预警 (timer: `warn_fraction` of the statutory time limit used)",
    On.STATUTORY_BREACH: "法定时限超期 (timer: the statutory deadline)",
    On.APPROVE: "准予: Update `decide(approve)` or policy",
    On.DENY: "不予: Update `decide(deny)` or policy",
    On.WITHDRAWN: "A's `withdrawn` event",
    On.RECALLED: "A's `recalled` event",
    On.RESULT_DELIVERED: "A's `result-delivered` event",
    On.DELIVERY_DUE: "送达确认超时 (timer: `delivery_wait`; none for a 联办 leg)",
    On.REVOCATION_REQUESTED: "the route's hub's `revocation-requested` event (an approved, "
    "revocable 联办 leg only; otherwise noted as ignored)",
    On.OTHER: "any other event",
}


class ProcessingState(CaseRecord):
    """Everything a processing workflow keeps between two steps, and carries across
    continue-as-new as it is: the workflow holds no other case state."""

    phase: Phase = Phase.WAITING
    origin: RegionCode | None = None
    materials: tuple[MaterialRef, ...] = ()  # the case file as forwarded, plus 补正
    issued: tuple[Effect, ...] = ()  # what a cancellation revokes
    due: datetime | None = None  # acceptance, 补正 or delivery due time (see `due`)
    span: timedelta = timedelta(0)  # the time limit as first set, for the warning
    warned: bool = False
    # 法定时限, tracked beside the promised one (`deadline`) when the item has one.
    statutory_span: timedelta = timedelta(0)
    statutory_warned: bool = False
    statutory_overdue: bool = False
    paused_at: datetime | None = None  # the clock stopped for 补正 at
    # The complete file received at (Art. 32: a case B leaves unanswered counts as accepted
    # on this day); after a 补正 asked before acceptance, when that 补正 arrived.
    received_at: datetime | None = None
    supplement_rounds: int = 0
    last_supplied: tuple[str, ...] = ()  # the materials the last 补正 brought (一次性告知)
    answers: int = 0  # decisions repeated to answer a withdrawal or recall
    decision_reason: str = ""

    @property
    def closed(self) -> bool:
        return self.phase in TERMINAL


class ProcessingStart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    case_no: CaseNo
    processing_region: RegionCode
    promised_working_days: int = Field(default=20, ge=0)
    # From the catalog item (decision 0026): 法定时限 (None: the item has none), the
    # applicant's 补正 time in working days (None: the timings' default), and what a missed
    # 补正 means.
    statutory_working_days: int | None = Field(default=None, ge=0)
    supplement_working_days: int | None = Field(default=None, ge=1, le=60)
    on_missed_supplement: MissedSupplement = "withdrawn"
    policy: AutoPolicy = AutoPolicy()
    timings: CaseTimings = CaseTimings()
    # Set when the case is one leg of a 多地联办 route (from the `forwarded` event).
    leg: LegBrief | None = None
    carry: ProcessingState | None = None  # the state handed over by continue-as-new


def start(begin: ProcessingStart) -> ProcessingState:
    return begin.carry or ProcessingState(
        case_no=begin.case_no, region=begin.processing_region, status=Status.WAITING
    )


P = Phase
_S = Status
_T = EventType
_WAITING_FOR_SUPPLEMENT = (P.SUPPLEMENT_BEFORE_ACCEPTANCE, P.SUPPLEMENT_REQUESTED)
_UNDECIDED = (P.RECEIVED, P.SUPPLEMENT_BEFORE_ACCEPTANCE, P.PROCESSING, P.SUPPLEMENT_REQUESTED)

TABLE: Table[Phase, On] = Table(
    [
        *rows(
            [P.WAITING],
            On.FORWARDED,
            P.RECEIVED,
            (_S.RECEIVED,),
            says="the complete file registered from the stored event; B accepts, refuses or "
            "asks for 补正 within `acceptance_working_days`",
        ),
        *rows(
            [P.RECEIVED],
            On.ACCEPT,
            P.PROCESSING,
            (_S.PROCESSING,),
            effects=(Effect.ISSUE_ACCEPTANCE_NOTICE,),
            sends=(_T.ACCEPTED,),
            says="deadlines = promised and statutory working days (clocks start)",
        ),
        *rows(
            [P.RECEIVED],
            On.NOT_ACCEPT,
            P.CLOSED,
            (_S.NOT_ACCEPTED, _S.CLOSED),
            sends=(_T.NOT_ACCEPTED,),
            says="with the reason",
        ),
        *rows(
            [P.RECEIVED],
            On.ACCEPTANCE_DUE,
            P.PROCESSING,
            (_S.DEEMED_ACCEPTED, _S.PROCESSING),
            effects=(Effect.ISSUE_DEEMED_ACCEPTANCE_NOTICE,),
            sends=(_T.ACCEPTED,),
            says="逾期未告知补正，自收到申请材料之日起即为受理: accepted as of the receipt day, "
            "deadlines counted from it",
        ),
        *rows(
            [P.RECEIVED],
            On.REQUEST_SUPPLEMENT,
            P.SUPPLEMENT_BEFORE_ACCEPTANCE,
            (_S.SUPPLEMENT_BEFORE_ACCEPTANCE,),
            sends=(_T.SUPPLEMENT_REQUESTED,),
            says="before acceptance: the acceptance clock stops; due in the item's 补正 working "
            "days; a further request only for what the last 补正 raised",
        ),
        *rows(
            [P.PROCESSING],
            On.REQUEST_SUPPLEMENT,
            P.SUPPLEMENT_REQUESTED,
            (_S.SUPPLEMENT_REQUESTED,),
            sends=(_T.SUPPLEMENT_REQUESTED,),
            says="clocks paused; due in the item's 补正 working days; a further request only "
            "for what the last 补正 raised",
        ),
        *rows(
            [P.SUPPLEMENT_BEFORE_ACCEPTANCE],
            On.SUPPLEMENT_PROVIDED,
            P.RECEIVED,
            (_S.RECEIVED,),
            says="materials join B's case file; the file is complete as of now: accept, "
            "refuse or ask again within `acceptance_working_days` (Art. 32 counts from here)",
        ),
        *rows(
            [P.SUPPLEMENT_REQUESTED],
            On.SUPPLEMENT_PROVIDED,
            P.PROCESSING,
            (_S.PROCESSING,),
            says="materials join B's case file; clocks resume with the working time left",
        ),
        *rows(
            _WAITING_FOR_SUPPLEMENT,
            On.SUPPLEMENT_DUE,
            P.CLOSED_DEEMED_WITHDRAWN,
            (_S.DEEMED_WITHDRAWN, _S.CLOSED_DEEMED_WITHDRAWN),
            effects=REVOCATIONS,
            sends=(_T.CANCELLED,),
            says="视为撤回: what B issued is revoked; `cancelled` (step `deemed-withdrawn`)",
        ),
        *rows(
            [P.SUPPLEMENT_BEFORE_ACCEPTANCE],
            On.SUPPLEMENT_DUE_REFUSED,
            P.CLOSED,
            (_S.NOT_ACCEPTED, _S.CLOSED),
            sends=(_T.NOT_ACCEPTED,),
            says="不予受理: 补正 not provided in time",
        ),
        *rows(
            [P.SUPPLEMENT_REQUESTED],
            On.SUPPLEMENT_DUE_REFUSED,
            P.RESULT_SENT,
            (_S.DENIED, _S.RESULT_SENT),
            sends=(_T.DECIDED,),
            says="不予许可: 补正 not provided in time",
        ),
        *rows(
            [P.PROCESSING],
            On.WARN,
            None,
            sends=(_T.DEADLINE_WARNING,),
            says="`deadline-warning` event",
        ),
        *rows(
            [P.PROCESSING],
            On.BREACH,
            None,
            effects=(Effect.ESCALATE_OVERDUE,),
            sends=(_T.DEADLINE_BREACHED,),
            says="`deadline-breached` event, escalation, Overdue=true",
        ),
        *rows(
            [P.PROCESSING],
            On.STATUTORY_WARN,
            None,
            sends=(_T.DEADLINE_WARNING,),
            says="`deadline-warning` event with the statutory deadline",
        ),
        *rows(
            [P.PROCESSING],
            On.STATUTORY_BREACH,
            None,
            effects=(Effect.ESCALATE_OVERDUE,),
            sends=(_T.DEADLINE_BREACHED,),
            says="`deadline-breached` event with the statutory deadline, escalation",
        ),
        *rows(
            [P.PROCESSING],
            On.APPROVE,
            P.RESULT_SENT,
            (_S.APPROVED, _S.RESULT_SENT),
            sends=(_T.DECIDED,),
            says="decision document issued (its SHA-256 travels in `decided`)",
        ),
        *rows(
            [P.PROCESSING],
            On.DENY,
            P.RESULT_SENT,
            (_S.DENIED, _S.RESULT_SENT),
            sends=(_T.DECIDED,),
            says="decision document issued (its SHA-256 travels in `decided`)",
        ),
        *rows(
            _UNDECIDED,
            On.WITHDRAWN,
            P.CLOSED_WITHDRAWN,
            (_S.CANCELLED, _S.CLOSED_WITHDRAWN),
            effects=REVOCATIONS,
            sends=(_T.CANCELLED,),
            says="what B issued is revoked; `cancelled` event",
        ),
        *rows(
            _UNDECIDED,
            On.RECALLED,
            P.CLOSED,
            (_S.CANCELLED, _S.CLOSED),
            effects=REVOCATIONS,
            sends=(_T.CANCELLED,),
            says="what B issued is revoked; `cancelled` event",
        ),
        *rows(
            [P.RESULT_SENT],
            On.WITHDRAWN,
            None,
            sends=(_T.DECIDED,),
            says="decided already: the decision is sent again, A honours it",
        ),
        *rows(
            [P.RESULT_SENT],
            On.RECALLED,
            None,
            sends=(_T.DECIDED,),
            says="decided already: the decision is sent again, A honours it",
        ),
        *rows(
            [P.RESULT_SENT],
            On.RESULT_DELIVERED,
            P.CLOSED,
            (_S.CLOSED,),
            says="the result reached the applicant (a denial with A's closing notice)",
        ),
        *rows(
            [P.RESULT_SENT],
            On.DELIVERY_DUE,
            P.CLOSED,
            (_S.CLOSED,),
            says="noted: no delivery confirmation from A",
        ),
        *rows(
            [P.RESULT_SENT],
            On.REVOCATION_REQUESTED,
            P.CLOSED,
            (_S.REVOKED, _S.CLOSED),
            effects=(Effect.REVOKE_DECISION,),
            sends=(_T.REVOKED,),
            says="多地联办: another leg refused; this region revokes its approval "
            "(the leg's `revoked_by`) and answers `revoked`",
        ),
    ]
)

PERSON_STEPS: dict[On, str] = {
    On.ACCEPT: "decide_acceptance",
    On.NOT_ACCEPT: "decide_acceptance",
    On.REQUEST_SUPPLEMENT: "request_supplement",
    On.APPROVE: "decide",
    On.DENY: "decide",
}
# The steps an item's automatic policy (`AutoPolicy`) can take instead of a person.
POLICY_STEPS = frozenset({On.ACCEPT, On.NOT_ACCEPT, On.APPROVE, On.DENY})

ProcessingInput = AcceptanceDecision | SupplementRequest | Decision


def input_trigger(given: ProcessingInput) -> Trigger[On]:
    if isinstance(given, AcceptanceDecision):
        kind = On.ACCEPT if given.accept else On.NOT_ACCEPT
    elif isinstance(given, SupplementRequest):
        kind = On.REQUEST_SUPPLEMENT
    else:
        kind = On.APPROVE if given.approve else On.DENY
    return Trigger(kind, "person", given, actor=given.actor)


def allows(begin: ProcessingStart, state: ProcessingState, kind: On) -> bool:
    """May a person take this step now? (Update validators ask this.)"""
    # A 补正 request belongs to the step the case waits for: acceptance, or the decision.
    accepting = kind in (On.ACCEPT, On.NOT_ACCEPT) or (
        kind is On.REQUEST_SUPPLEMENT and state.phase is P.RECEIVED
    )
    if accepting and begin.policy.acceptance != "manual":
        return False
    if not accepting and kind in (On.REQUEST_SUPPLEMENT, On.APPROVE, On.DENY):
        return begin.policy.decision == "manual" and TABLE.allows(state.phase, kind)
    return TABLE.allows(state.phase, kind)


def refusal(begin: ProcessingStart, state: ProcessingState, given: object) -> RuleBroken | None:
    """A rule of law that refuses a person's step the table allows now (Update validators ask
    this after `allows`): a 补正 request is one complete list (一次性告知)."""
    if isinstance(given, SupplementRequest):
        return one_time_notice(state.supplement_rounds, state.last_supplied, given)
    return None


_EVENT_TRIGGERS = {
    EventType.FORWARDED: On.FORWARDED,
    EventType.SUPPLEMENT_PROVIDED: On.SUPPLEMENT_PROVIDED,
    EventType.WITHDRAWN: On.WITHDRAWN,
    EventType.RECALLED: On.RECALLED,
    EventType.RESULT_DELIVERED: On.RESULT_DELIVERED,
    EventType.REVOCATION_REQUESTED: On.REVOCATION_REQUESTED,
}


def _event_trigger(begin: ProcessingStart, state: ProcessingState, event: InboundEvent) -> On:
    kind = _EVENT_TRIGGERS.get(event.type, On.OTHER)
    # Only an approval of a leg that can be undone is revoked; a request for anything else
    # (another case, a denial, a leg with nothing to undo) is noted and ignored.
    if kind is On.REVOCATION_REQUESTED and not (
        begin.leg is not None and begin.leg.revocable and state.outcome == "approved"
    ):
        return On.OTHER
    return kind


def automatic(begin: ProcessingStart, state: ProcessingState) -> Trigger[On] | None:
    policy = begin.policy
    if state.phase is P.RECEIVED and policy.acceptance != "manual":
        accept = policy.acceptance == "accept"
        decision = AcceptanceDecision(accept=accept, reason="automatic policy: item conditions")
        return Trigger(On.ACCEPT if accept else On.NOT_ACCEPT, "policy", decision)
    if state.phase is P.PROCESSING and policy.decision != "manual":
        approve = policy.decision == "approve"
        why = "meets the item's conditions" if approve else "does not meet the item's conditions"
        verdict = Decision(approve=approve, reason=f"automatic policy: {why}")
        return Trigger(On.APPROVE if approve else On.DENY, "policy", verdict)
    return None


def _limits(begin: ProcessingStart, state: ProcessingState) -> list[tuple[datetime, On]]:
    """The time-limit timers still to run while processing: promised, then statutory."""
    fraction = begin.timings.warn_fraction
    timers: list[tuple[datetime, On]] = []
    if state.deadline is not None and not state.overdue:
        if not state.warned:
            timers.append((state.deadline - state.span * (1 - fraction), On.WARN))
        else:
            timers.append((state.deadline, On.BREACH))
    if state.statutory_deadline is not None and not state.statutory_overdue:
        if not state.statutory_warned:
            warn_at = state.statutory_deadline - state.statutory_span * (1 - fraction)
            timers.append((warn_at, On.STATUTORY_WARN))
        else:
            timers.append((state.statutory_deadline, On.STATUTORY_BREACH))
    return timers


def due(begin: ProcessingStart, state: ProcessingState) -> tuple[datetime, Trigger[On]] | None:
    phase = state.phase
    if phase is P.PROCESSING:
        timers = _limits(begin, state)
        if not timers:
            return None
        at, kind = min(timers, key=lambda timer: timer[0])  # promised first on a tie
        return at, Trigger(kind, "timer")
    if state.due is None:
        return None
    missed = (
        On.SUPPLEMENT_DUE_REFUSED if begin.on_missed_supplement == "refused" else On.SUPPLEMENT_DUE
    )
    timed: On | None = {
        P.RECEIVED: On.ACCEPTANCE_DUE,
        P.SUPPLEMENT_BEFORE_ACCEPTANCE: missed,
        P.SUPPLEMENT_REQUESTED: missed,
        P.RESULT_SENT: None if begin.leg is not None else On.DELIVERY_DUE,
    }.get(phase)
    return (state.due, Trigger(timed, "timer")) if timed else None


def next_trigger(
    begin: ProcessingStart, state: ProcessingState, now: datetime
) -> Trigger[On] | None:
    """What the case does next without waiting; None: it waits. As on A's side, an event the
    current phase does not answer waits behind the steps the case takes on its own."""
    first: Trigger[On] | None = None
    if state.queue:
        item = state.queue[0]
        assert isinstance(item, InboundEvent)  # only A's workflow hears of delivery failures
        kind = _event_trigger(begin, state, item)
        first = Trigger(kind, "event", item, event_id=item.event_id, queued=True)
        if TABLE.allows(state.phase, kind):
            return first
    taken = automatic(begin, state)
    if taken is not None:
        return taken
    timer = due(begin, state)
    if timer is not None and timer[0] <= now:
        return timer[1]
    return first


def step(
    begin: ProcessingStart, state: ProcessingState, trigger: Trigger[On], now: datetime
) -> Result[ProcessingState]:
    return apply(TABLE, HANDLERS, begin, state, trigger, now)


# --- handlers: the details of each move ------------------------------------------------------

B = ProcessingStart
St = ProcessingState
Tr = Trigger[On]


def _clock(begin: B) -> DeadlineClock:
    return DeadlineClock(begin.timings.working_day)


def _event(trigger: Tr) -> InboundEvent:
    event = trigger.payload
    assert isinstance(event, InboundEvent)
    return event


def _origin(state: St) -> str:
    assert state.origin is not None  # set from the forwarded event, the only way in
    return state.origin


def _materials(event: InboundEvent) -> tuple[MaterialRef, ...]:
    listed = event.data.get("materials", ())
    return tuple(MaterialRef.model_validate(m) for m in listed)


def _forwarded(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    tx.write(RegisterForwarded(event_id=event.event_id))
    tx.step(_S.RECEIVED, event_id=event.event_id, detail=f"from {event.sender_region}")
    acceptance = _clock(begin).deadline(tx.now, begin.timings.acceptance_working_days)
    tx.set(
        origin=event.sender_region,
        materials=_materials(event),
        due=acceptance.at,
        received_at=tx.now,
    )


def _not_accepted(begin: B, state: St, tx: Tx, reason: str) -> None:
    sent = tx.send("not-accepted", EventType.NOT_ACCEPTED, _origin(state), {"reason": reason})
    tx.step(_S.NOT_ACCEPTED, event_id=sent, detail=reason)
    tx.step(_S.CLOSED, detail="not-accepted")
    tx.set(outcome="not-accepted", due=None)


def _accept(
    begin: B, state: St, tx: Tx, notice: Effect, since: datetime, how: str, why: str = ""
) -> None:
    """Accepted as of `since`: both time limits count from it."""
    tx.effect(notice, detail=why)
    clock = _clock(begin)
    deadline = clock.deadline(since, begin.promised_working_days)
    statutory = (
        clock.deadline(since, begin.statutory_working_days)
        if begin.statutory_working_days is not None
        else None
    )
    sent = tx.send(
        "accepted",
        EventType.ACCEPTED,
        _origin(state),
        {
            "promised_working_days": begin.promised_working_days,
            "deadline": deadline.at.isoformat(),
            "deadline_calendar_known": deadline.calendar_known,
        },
    )
    provisional = (
        "" if deadline.calendar_known else " (provisional: holiday calendar not yet published)"
    )
    limits = f"deadline {deadline.at:%Y-%m-%d %H:%M}{provisional}"
    if statutory is not None:
        limits += f"; statutory deadline {statutory.at:%Y-%m-%d %H:%M}"
    tx.step(_S.PROCESSING, event_id=sent, detail=f"{how}; clock starts; {limits}")
    tx.set(
        issued=(*state.issued, notice),
        deadline=deadline.at,
        span=deadline.at - since,
        statutory_deadline=statutory.at if statutory else None,
        statutory_span=statutory.at - since if statutory else timedelta(0),
        due=None,
    )


def _acceptance(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    decision = trigger.payload
    assert isinstance(decision, AcceptanceDecision)
    if not decision.accept:
        _not_accepted(begin, state, tx, decision.reason)
        return
    _accept(begin, state, tx, Effect.ISSUE_ACCEPTANCE_NOTICE, tx.now, "accepted")


def _acceptance_due(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    """行政许可法 Art. 32: no acceptance, refusal or 补正 notice within the acceptance days of
    receiving the complete file: the case is accepted as of the day it was received."""
    since = state.received_at or tx.now  # a state carried from before 0026 has no receipt time
    days = begin.timings.acceptance_working_days
    why = f"逾期未告知补正，自收到申请材料之日起即为受理（{since.astimezone(CST):%Y-%m-%d}）"
    tx.step(_S.DEEMED_ACCEPTED, detail=f"{why}: no answer within {days} working days")
    _accept(begin, state, tx, Effect.ISSUE_DEEMED_ACCEPTANCE_NOTICE, since, "deemed accepted", why)


def _supplement_days(begin: B) -> int:
    return begin.supplement_working_days or begin.timings.supplement_working_days


def _request_supplement(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    asked = trigger.payload
    assert isinstance(asked, SupplementRequest)
    rounds = state.supplement_rounds + 1
    until = _clock(begin).deadline(tx.now, _supplement_days(begin)).at
    sent = tx.send(
        f"supplement-requested:{rounds}",
        EventType.SUPPLEMENT_REQUESTED,
        _origin(state),
        {
            "missing": list(asked.missing),
            "reason": follow_up_reason(asked, asked.reason),
            "due": until.isoformat(),
        },
    )
    before = state.phase is P.RECEIVED
    listed = ", ".join(asked.missing)
    follow_up = f" (concerns the last 补正: {', '.join(asked.concerning)})" if rounds > 1 else ""
    tx.step(
        _S.SUPPLEMENT_BEFORE_ACCEPTANCE if before else _S.SUPPLEMENT_REQUESTED,
        event_id=sent,
        detail=f"{'acceptance clock stops' if before else 'clock paused'}; {listed}{follow_up}; "
        f"due {until.astimezone(CST):%Y-%m-%d %H:%M}",
    )
    tx.set(supplement_rounds=rounds, paused_at=None if before else tx.now, due=until)


def _supplement_provided(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    given = _materials(event)
    tx.write(AddMaterials(materials=given))
    names = tuple(m.name for m in given)
    if state.phase is P.SUPPLEMENT_BEFORE_ACCEPTANCE:
        days = begin.timings.acceptance_working_days
        acceptance = _clock(begin).deadline(tx.now, days)
        tx.step(
            _S.RECEIVED,
            event_id=event.event_id,
            detail=f"补正 received; the file is complete: accept, refuse or ask within {days} "
            "working days",
        )
        tx.set(
            materials=state.materials + given,
            last_supplied=names,
            received_at=tx.now,
            due=acceptance.at,
        )
        return
    assert state.paused_at is not None
    assert state.deadline is not None
    clock = _clock(begin)
    resumed = clock.resume(state.paused_at, state.deadline, tx.now)
    statutory = (
        clock.resume(state.paused_at, state.statutory_deadline, tx.now).at
        if state.statutory_deadline is not None
        else None
    )
    tx.step(
        _S.PROCESSING,
        event_id=event.event_id,
        detail=f"补正 received; clock resumes; deadline {resumed.at:%Y-%m-%d %H:%M}",
    )
    tx.set(
        materials=state.materials + given,
        last_supplied=names,
        deadline=resumed.at,
        statutory_deadline=statutory,
        paused_at=None,
        due=None,
    )


def _decide(begin: B, state: St, tx: Tx, approve: bool, reason: str) -> None:
    outcome: Literal["approved", "denied"] = "approved" if approve else "denied"
    tx.step(_S.APPROVED if approve else _S.DENIED, detail=reason)
    tx.write(SendDecision(origin_region=_origin(state), outcome=outcome, reason=reason))
    tx.step(
        _S.RESULT_SENT, event_id=tx.event_id("decided"), detail=f"{outcome} to {_origin(state)}"
    )
    tx.set(
        outcome=outcome,
        decision_reason=reason,
        deadline=None,
        statutory_deadline=None,
        paused_at=None,
        # A leg of a route waits for the hub: its delivery (the route done) or a revocation.
        due=None if begin.leg is not None else tx.now + begin.timings.delivery_wait,
    )


def _decision(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    verdict = trigger.payload
    assert isinstance(verdict, Decision)
    _decide(begin, state, tx, verdict.approve, verdict.reason)


MISSED_SUPPLEMENT = "补正 not provided in time"


def _supplement_due(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    """视为撤回: the applicant did not provide the 补正 in time; the case ends as withdrawn."""
    revoked = []
    for issued in reversed(state.issued):
        undo = REVOCATION_OF[issued]
        tx.effect(undo, detail="视为撤回")
        revoked.append(undo.value)
    sent = tx.send(DEEMED_WITHDRAWN_STEP, EventType.CANCELLED, _origin(state), {"revoked": revoked})
    tx.step(_S.DEEMED_WITHDRAWN, event_id=sent, detail=f"视为撤回: {MISSED_SUPPLEMENT}")
    tx.step(_S.CLOSED_DEEMED_WITHDRAWN, detail="deemed-withdrawn")
    tx.set(
        outcome="deemed-withdrawn",
        issued=(),
        deadline=None,
        statutory_deadline=None,
        paused_at=None,
        due=None,
    )


def _supplement_due_refused(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    if state.phase is P.SUPPLEMENT_BEFORE_ACCEPTANCE:
        _not_accepted(begin, state, tx, MISSED_SUPPLEMENT)
    else:
        _decide(begin, state, tx, False, MISSED_SUPPLEMENT)


def _deadline_notice(
    state: St, tx: Tx, kind: EventType, label: str, deadline: datetime | None, limit: str
) -> None:
    assert deadline is not None
    prefix = "statutory-" if limit == "statutory" else ""
    sent = tx.send(
        f"{prefix}deadline-{label}:{state.supplement_rounds}",
        kind,
        _origin(state),
        {"deadline": deadline.isoformat(), "kind": label},
    )
    tx.note(f"{prefix.replace('-', ' ')}deadline {label}", event_id=sent)


def _warn(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    _deadline_notice(state, tx, EventType.DEADLINE_WARNING, "warning", state.deadline, "promised")
    tx.set(warned=True)


def _breach(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    deadline = state.deadline
    _deadline_notice(state, tx, EventType.DEADLINE_BREACHED, "breached", deadline, "promised")
    tx.effect(Effect.ESCALATE_OVERDUE, detail="承诺时限 breached")
    tx.set(overdue=True)


def _statutory_warn(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    deadline = state.statutory_deadline
    _deadline_notice(state, tx, EventType.DEADLINE_WARNING, "warning", deadline, "statutory")
    tx.set(statutory_warned=True)


def _statutory_breach(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    deadline = state.statutory_deadline
    _deadline_notice(state, tx, EventType.DEADLINE_BREACHED, "breached", deadline, "statutory")
    tx.effect(Effect.ESCALATE_OVERDUE, key="escalate-overdue:statutory", detail="法定时限 breached")
    tx.set(overdue=True, statutory_overdue=True)


def _cancel(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    """A withdrawal or a recall: cancel if undecided, else answer with the decision again."""
    event = _event(trigger)
    asked = "withdrawn by the applicant" if trigger.kind is On.WITHDRAWN else "recalled by A"
    if state.phase is P.RESULT_SENT:
        answers = state.answers + 1
        assert state.outcome in ("approved", "denied")
        step_name = f"decided:again:{answers}"
        tx.write(
            SendDecision(
                origin_region=_origin(state),
                outcome="approved" if state.outcome == "approved" else "denied",
                reason=state.decision_reason,
                step=step_name,
            )
        )
        tx.note(f"{asked} after the decision: decision sent again", event_id=event.event_id)
        tx.set(answers=answers)
        return
    tx.note(asked, event_id=event.event_id)
    revoked = []
    for issued in reversed(state.issued):
        undo = REVOCATION_OF[issued]
        tx.effect(undo, detail=f"case {asked.split()[0]}")
        revoked.append(undo.value)
    sent = tx.send("cancelled", EventType.CANCELLED, _origin(state), {"revoked": revoked})
    tx.step(_S.CANCELLED, event_id=sent)
    ending = _S.CLOSED_WITHDRAWN if trigger.kind is On.WITHDRAWN else _S.CLOSED
    tx.step(ending, detail="cancelled")
    tx.set(
        outcome="cancelled",
        issued=(),
        deadline=None,
        statutory_deadline=None,
        paused_at=None,
        due=None,
    )


def _result_delivered(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    event = _event(trigger)
    tx.note(f"result delivered by {event.data.get('channel')}", event_id=event.event_id)
    tx.step(_S.CLOSED, detail=state.outcome or "")
    tx.set(due=None)


def _revoke(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    """Undo an approved leg the route no longer needs: the region's own act of revocation."""
    event = _event(trigger)
    assert begin.leg is not None
    reason = str(event.data.get("reason", ""))[:500]
    tx.effect(Effect.REVOKE_DECISION, detail=f"{begin.leg.issues}: {reason}".rstrip(": "))
    sent = tx.send("revoked", EventType.REVOKED, _origin(state), {"reason": reason})
    tx.step(_S.REVOKED, event_id=sent, detail=reason)
    tx.step(_S.CLOSED, detail="revoked")
    tx.set(outcome="revoked", due=None)


def _delivery_due(begin: B, state: St, trigger: Tr, tx: Tx) -> None:
    tx.note("no delivery confirmation from the accepting region")
    tx.step(_S.CLOSED, detail=state.outcome or "")
    tx.set(due=None)


HANDLERS: dict[On, Handler] = {
    On.FORWARDED: _forwarded,
    On.ACCEPT: _acceptance,
    On.NOT_ACCEPT: _acceptance,
    On.ACCEPTANCE_DUE: _acceptance_due,
    On.REQUEST_SUPPLEMENT: _request_supplement,
    On.SUPPLEMENT_PROVIDED: _supplement_provided,
    On.SUPPLEMENT_DUE: _supplement_due,
    On.SUPPLEMENT_DUE_REFUSED: _supplement_due_refused,
    On.WARN: _warn,
    On.BREACH: _breach,
    On.STATUTORY_WARN: _statutory_warn,
    On.STATUTORY_BREACH: _statutory_breach,
    On.APPROVE: _decision,
    On.DENY: _decision,
    On.WITHDRAWN: _cancel,
    On.RECALLED: _cancel,
    On.RESULT_DELIVERED: _result_delivered,
    On.DELIVERY_DUE: _delivery_due,
    On.REVOCATION_REQUESTED: _revoke,
}
