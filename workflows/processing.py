"""The processing region's (B, 办理地) workflow for one case.

Started by the inbox dispatcher with signal-with-start carrying the `forwarded` event, so the
workflow and its first event arrive together and a redelivered event cannot start a second one.
Phases: accept or not -> process (补正 requests pause the working-day clock; a warning before
the deadline, a breach event and escalation after it) -> decide -> wait for A to deliver the
result -> closed. A withdrawal before the decision revokes what B issued and cancels the case.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from events.models import EventType, InboundEvent
    from workflows.deadlines import DeadlineClock
    from workflows.models import (
        REVOCATION_OF,
        AcceptanceDecision,
        CaseOutcome,
        CaseProgress,
        Decision,
        Effect,
        ProcessingCarry,
        ProcessingStart,
        ProcessingStatus,
        RegisterForwarded,
        SendDecision,
        StepAck,
        SupplementRequest,
    )
    from workflows.steps import effect, event_id, history_too_long, send
    from workflows.timeline import Timeline

S = ProcessingStatus


@workflow.defn
class ProcessingWorkflow:
    @workflow.init
    def __init__(self, start: ProcessingStart) -> None:
        self._start = start
        self._timeline = Timeline(start.case_no, start.processing_region, S.WAITING)
        self._clock = DeadlineClock(start.timings.working_day)
        self._phase = "wait"
        self._origin: str | None = None
        self._issued: list[Effect] = []
        self._events: list[InboundEvent] = []
        self._outcome: str | None = None
        self._deadline: datetime | None = None
        self._span = timedelta(0)
        self._warned = False
        self._supplement_rounds = 0
        self._paused_at: datetime | None = None
        self._supplement_due: datetime | None = None
        self._acceptance: AcceptanceDecision | None = None
        self._supplement_request: SupplementRequest | None = None
        self._decision: Decision | None = None
        if start.carry is not None:
            self._restore(start.carry)

    @workflow.run
    async def run(self, start: ProcessingStart) -> CaseOutcome:
        while self._phase != "closed":
            if self._phase == "wait":
                await self._receive()
            elif self._phase == "acceptance":
                await self._acceptance_step()
            elif self._phase == "processing":
                await self._processing_step()
            elif self._phase == "result":
                await self._await_delivery()
            pending = self._acceptance or self._decision or self._supplement_request
            if (
                self._phase != "closed"
                and pending is None
                and history_too_long(start.timings.history_limit)
            ):
                await self._timeline.wait(workflow.all_handlers_finished)
                workflow.continue_as_new(start.model_copy(update={"carry": self._carry()}))
        await self._timeline.wait(workflow.all_handlers_finished)
        return CaseOutcome(
            case_no=start.case_no, status=self._timeline.status, outcome=self._outcome
        )

    # --- phases ---------------------------------------------------------------------------

    async def _receive(self) -> None:
        await self._timeline.wait(lambda: any(e.type is EventType.FORWARDED for e in self._events))
        forwarded = next(e for e in self._events if e.type is EventType.FORWARDED)
        self._events.remove(forwarded)
        self._origin = forwarded.sender_region
        self._timeline.write(RegisterForwarded(event_id=forwarded.event_id))
        self._timeline.step(S.RECEIVED, event_id=forwarded.event_id, detail=f"from {self._origin}")
        self._phase = "acceptance"

    async def _acceptance_step(self) -> None:
        policy = self._start.policy.acceptance
        if policy == "manual":
            await self._timeline.wait(lambda: self._acceptance is not None or self._withdrawn())
            decision = self._acceptance
        else:
            decision = AcceptanceDecision(
                accept=policy == "accept", reason="automatic policy: item conditions"
            )
        if self._withdrawn():
            self._cancel()
            return
        assert decision is not None
        if not decision.accept:
            send(
                self._timeline,
                step="not-accepted",
                event_type=EventType.NOT_ACCEPTED,
                recipient=self._origin_region,
                data={"reason": decision.reason},
                status=S.NOT_ACCEPTED,
                detail=decision.reason,
            )
            self._outcome = "not-accepted"
            self._close()
            self._acceptance = None
            return
        self._issue(Effect.ISSUE_ACCEPTANCE_NOTICE)
        now = workflow.now()
        deadline = self._clock.deadline(now, self._start.promised_working_days)
        self._deadline, self._span = deadline.at, deadline.at - now
        self._timeline.set_deadline(deadline.at)
        send(
            self._timeline,
            step="accepted",
            event_type=EventType.ACCEPTED,
            recipient=self._origin_region,
            data={
                "promised_working_days": self._start.promised_working_days,
                "deadline": deadline.at.isoformat(),
                "deadline_calendar_known": deadline.calendar_known,
            },
            status=S.PROCESSING,
            detail=f"accepted; clock starts; deadline {deadline.at:%Y-%m-%d %H:%M}"
            + (
                ""
                if deadline.calendar_known
                else " (provisional: holiday calendar not yet published)"
            ),
        )
        self._phase = "processing"
        self._acceptance = None

    async def _processing_step(self) -> None:
        """Handle one thing (an input, an event, a due time), then return."""
        if self._start.policy.decision != "manual" and self._paused_at is None:
            approve = self._start.policy.decision == "approve"
            self._decide(
                Decision(
                    approve=approve,
                    reason="automatic policy: "
                    + (
                        "meets the item's conditions"
                        if approve
                        else "does not meet the item's conditions"
                    ),
                )
            )
            return
        due, on_due = self._next_due()
        timeout = max(due - workflow.now(), timedelta(0)) if due else None
        try:
            await self._timeline.wait(self._something_to_handle, timeout=timeout)
        except TimeoutError:
            on_due()
            return
        if self._withdrawn():
            self._cancel()
        elif self._events:
            self._on_event(self._events.pop(0))
        elif self._decision is not None:
            self._decide(self._decision)
            self._decision = None
        elif self._supplement_request is not None:
            self._request_supplement(self._supplement_request)
            self._supplement_request = None

    async def _await_delivery(self) -> None:
        try:
            await self._timeline.wait(
                lambda: any(e.type is EventType.RESULT_DELIVERED for e in self._events),
                timeout=self._start.timings.delivery_wait,
            )
        except TimeoutError:
            self._timeline.note("no delivery confirmation from the accepting region")
            self._close()
            return
        delivered = next(e for e in self._events if e.type is EventType.RESULT_DELIVERED)
        self._timeline.note(
            f"result delivered by {delivered.data.get('channel')}", event_id=delivered.event_id
        )
        self._close()

    # --- steps --------------------------------------------------------------------------------

    def _decide(self, decision: Decision) -> None:
        outcome = "approved" if decision.approve else "denied"
        self._timeline.step(S.APPROVED if decision.approve else S.DENIED, detail=decision.reason)
        self._timeline.write(
            SendDecision(origin_region=self._origin_region, outcome=outcome, reason=decision.reason)
        )
        self._timeline.step(
            S.RESULT_SENT,
            event_id=event_id(self._timeline, "decided"),
            detail=f"{outcome} to {self._origin_region}",
        )
        self._outcome, self._phase = outcome, "result"
        self._timeline.set_deadline(None)

    def _request_supplement(self, request: SupplementRequest) -> None:
        self._supplement_rounds += 1
        now = workflow.now()
        self._paused_at = now
        self._supplement_due = now + self._start.timings.supplement_timeout
        send(
            self._timeline,
            step=f"supplement-requested:{self._supplement_rounds}",
            event_type=EventType.SUPPLEMENT_REQUESTED,
            recipient=self._origin_region,
            data={
                "missing": list(request.missing),
                "reason": request.reason,
                "due": self._supplement_due.isoformat(),
            },
            status=S.SUPPLEMENT_REQUESTED,
            detail=f"clock paused; {', '.join(request.missing)}",
        )

    def _on_event(self, event: InboundEvent) -> None:
        if event.type is EventType.SUPPLEMENT_PROVIDED and self._paused_at is not None:
            assert self._deadline is not None
            resumed = self._clock.resume(self._paused_at, self._deadline, workflow.now())
            self._deadline, self._paused_at, self._supplement_due = resumed.at, None, None
            self._timeline.set_deadline(resumed.at)
            self._timeline.step(
                S.PROCESSING,
                event_id=event.event_id,
                detail=f"补正 received; clock resumes; deadline {resumed.at:%Y-%m-%d %H:%M}",
            )
        else:
            self._timeline.note(
                f"ignored {event.type.value} in {self._timeline.status}", event_id=event.event_id
            )

    def _cancel(self) -> None:
        withdrawn = next(e for e in self._events if e.type is EventType.WITHDRAWN)
        self._events.remove(withdrawn)
        self._timeline.note("withdrawn by the applicant", event_id=withdrawn.event_id)
        revoked = []
        for issued in reversed(self._issued):
            undo = REVOCATION_OF[issued]
            effect(self._timeline, undo, detail="case withdrawn")
            revoked.append(undo.value)
        send(
            self._timeline,
            step="cancelled",
            event_type=EventType.CANCELLED,
            recipient=self._origin_region,
            data={"revoked": revoked},
            status=S.CANCELLED,
        )
        self._outcome = "cancelled"
        self._close()

    def _next_due(self) -> tuple[datetime | None, Callable[[], None]]:
        if self._paused_at is not None:
            return self._supplement_due, self._supplement_missed
        if self._deadline is None or self._timeline.overdue:
            return None, self._noop
        if not self._warned:
            return self._deadline - self._span * (1 - self._start.timings.warn_fraction), self._warn
        return self._deadline, self._breach

    def _warn(self) -> None:
        self._warned = True
        self._deadline_notice(EventType.DEADLINE_WARNING, "warning")

    def _breach(self) -> None:
        self._deadline_notice(EventType.DEADLINE_BREACHED, "breached")
        self._timeline.mark_overdue()
        effect(self._timeline, Effect.ESCALATE_OVERDUE, detail="承诺时限 breached")

    def _deadline_notice(self, kind: EventType, label: str) -> None:
        assert self._deadline is not None
        send(
            self._timeline,
            step=f"deadline-{label}:{self._supplement_rounds}",
            event_type=kind,
            recipient=self._origin_region,
            data={"deadline": self._deadline.isoformat(), "kind": label},
            status=self._timeline.status,
            detail=f"deadline {label}",
        )

    def _supplement_missed(self) -> None:
        self._paused_at = None
        self._decide(Decision(approve=False, reason="补正 not provided in time"))

    def _noop(self) -> None:
        return None

    # --- helpers --------------------------------------------------------------------------

    @property
    def _origin_region(self) -> str:
        if self._origin is None:
            raise ApplicationError("the case has not been received yet", non_retryable=True)
        return self._origin

    def _withdrawn(self) -> bool:
        return any(e.type is EventType.WITHDRAWN for e in self._events)

    def _something_to_handle(self) -> bool:
        return bool(
            self._events or self._decision is not None or self._supplement_request is not None
        )

    def _issue(self, what: Effect) -> None:
        effect(self._timeline, what)
        self._issued.append(what)

    def _close(self) -> None:
        self._timeline.step(S.CLOSED, detail=self._outcome or "")
        self._timeline.outcome = self._outcome
        self._timeline.closed = True
        self._phase = "closed"

    def _carry(self) -> ProcessingCarry:
        return ProcessingCarry(
            timeline=self._timeline.state(),
            phase=self._phase,
            origin_region=self._origin,
            issued=tuple(self._issued),
            pending_events=tuple(self._events),
            outcome=self._outcome,
            deadline=self._deadline,
            warned=self._warned,
            supplement_rounds=self._supplement_rounds,
        )

    def _restore(self, carry: ProcessingCarry) -> None:
        self._timeline.restore(carry.timeline)
        self._phase, self._origin = carry.phase, carry.origin_region
        self._issued, self._events = list(carry.issued), list(carry.pending_events)
        self._outcome, self._deadline = carry.outcome, carry.deadline
        self._warned, self._supplement_rounds = carry.warned, carry.supplement_rounds

    # --- signals, queries, updates ----------------------------------------------------------

    @workflow.signal
    def case_event(self, event: InboundEvent) -> None:
        if self._timeline.first_time(event.event_id):
            self._events.append(event)

    @workflow.query
    def progress(self) -> CaseProgress:
        return self._timeline.progress()

    @workflow.update
    async def decide_acceptance(self, decision: AcceptanceDecision) -> StepAck:
        self._acceptance = decision
        return await self._applied(lambda: self._acceptance is None)

    @decide_acceptance.validator
    def _check_acceptance(self, decision: AcceptanceDecision) -> None:
        self._expect("acceptance", self._start.policy.acceptance, "accepting or not accepting")

    @workflow.update
    async def request_supplement(self, request: SupplementRequest) -> StepAck:
        self._supplement_request = request
        return await self._applied(lambda: self._supplement_request is None)

    @request_supplement.validator
    def _check_supplement_request(self, request: SupplementRequest) -> None:
        self._expect("processing", self._start.policy.decision, "a 补正 request")

    @workflow.update
    async def decide(self, decision: Decision) -> StepAck:
        self._decision = decision
        return await self._applied(lambda: self._decision is None)

    @decide.validator
    def _check_decision(self, decision: Decision) -> None:
        self._expect("processing", self._start.policy.decision, "a decision")

    def _expect(self, phase: str, policy: str, step: str) -> None:
        pending = self._acceptance or self._decision or self._supplement_request
        if (
            self._phase != phase
            or policy != "manual"
            or pending is not None
            or self._paused_at is not None
            or self._withdrawn()
        ):
            raise ApplicationError(
                f"{step} is not expected in status {self._timeline.status}", type="StepNotAllowed"
            )

    async def _applied(self, done: Callable[[], bool]) -> StepAck:
        """Return once the main loop has applied the input (or the case was closed) and
        committed what it did: the caller is told a status the database holds."""
        await workflow.wait_condition(
            lambda: (done() or self._phase == "closed") and self._timeline.saved
        )
        return StepAck(case_no=self._start.case_no, status=self._timeline.status)
