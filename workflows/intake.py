"""The accepting region's (A, 收件地) intake workflow for one case.

Phases: formal review (with the applicant's 补正 loop) -> forward -> await the processing
region's answers (relaying its 补正 requests) -> deliver the result, or compensate in reverse
order of what was done (refund, void the receipt, return the materials, notify) and close
rejected. Human steps are Updates with validators; each can also be taken by the item's
automatic policy. The workflow continues as new between phases when its history grows long.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from events.models import (
        CaseAccepted,
        CaseDecided,
        CaseNotAccepted,
        DeadlineNotice,
        DeliveryFailure,
        EventType,
        InboundEvent,
        MaterialRef,
        SupplementRequested,
    )
    from workflows.models import (
        COMPENSATION_OF,
        CaseOutcome,
        CaseProgress,
        DeliveryConfirmation,
        Effect,
        FormalReview,
        ForwardCase,
        IntakeCarry,
        IntakeRequest,
        IntakeStatus,
        StepAck,
        SupplementMaterials,
        Withdrawal,
    )
    from workflows.steps import effect, event_id, history_too_long, send
    from workflows.timeline import Timeline

S = IntakeStatus
# Before B's decision the applicant may withdraw; afterwards the decision stands.
_WITHDRAWABLE = {"review", "supplement", "forward", "await"}


@workflow.defn
class IntakeWorkflow:
    @workflow.init
    def __init__(self, request: IntakeRequest) -> None:
        self._request = request
        self._timeline = Timeline(request.case_no, request.origin_region, S.RECEIVED)
        self._phase = "review"
        self._done: list[Effect] = []
        self._events: list[InboundEvent] = []
        self._outcome: str | None = None
        self._reason = ""
        self._answer_due: datetime | None = None
        self._notifications = 0
        self._materials: list[MaterialRef] = list(request.materials)
        # Inputs from people, consumed by the main loop; `_awaiting` says which one it wants.
        self._awaiting: str | None = None
        self._review: FormalReview | None = None
        self._supplement: SupplementMaterials | None = None
        self._supplement_due: datetime | None = None
        self._delivery: DeliveryConfirmation | None = None
        self._withdrawal: Withdrawal | None = None
        self._withdrawal_sent = False
        self._cancel_due: datetime | None = None
        self._delivery_failure: DeliveryFailure | None = None
        if request.carry is not None:
            self._restore(request.carry)

    @workflow.run
    async def run(self, request: IntakeRequest) -> CaseOutcome:
        if request.carry is None:
            self._timeline.step(
                S.RECEIVED, detail=f"item {request.item_code} v{request.item_version}"
            )
            self._do(Effect.TAKE_MATERIALS, detail=f"{len(request.materials)} materials")
        while self._phase != "closed":
            if self._phase == "review":
                await self._formal_review()
            elif self._phase == "supplement":
                await self._await_own_supplement()
            elif self._phase == "forward":
                await self._forward()
            elif self._phase == "await":
                await self._await_answer()
            elif self._phase == "deliver":
                await self._deliver()
            elif self._phase == "compensate":
                await self._compensate()
            if (
                self._phase != "closed"
                and not self._inputs_pending()
                and history_too_long(request.timings.history_limit)
            ):
                await self._timeline.wait(workflow.all_handlers_finished)
                workflow.continue_as_new(request.model_copy(update={"carry": self._carry()}))
        await self._timeline.wait(workflow.all_handlers_finished)
        return CaseOutcome(
            case_no=request.case_no, status=self._timeline.status, outcome=self._outcome
        )

    # --- phases ---------------------------------------------------------------------------

    async def _formal_review(self) -> None:
        self._timeline.step(S.FORMAL_REVIEW)
        self._supplement = None  # a 补正 just provided counts as applied once review reopens
        review = await self._next_review()
        if review is None:
            return  # withdrawn while waiting
        if review.outcome == "pass":
            self._timeline.step(
                S.FORMAL_REVIEW_PASSED, detail=review.reason or "materials complete"
            )
            self._phase = "forward"
        elif review.outcome == "refuse":
            self._timeline.step(S.REFUSED_AT_INTAKE, detail=review.reason)
            self._reject("refused-at-intake", review.reason)
        else:
            self._notify(f"补正 needed: {', '.join(review.missing)}")
            self._timeline.step(S.SUPPLEMENT_PENDING, detail=", ".join(review.missing))
            self._phase = "supplement"
        self._review = None

    async def _await_own_supplement(self) -> None:
        provided = await self._next_supplement(self._request.timings.supplement_timeout)
        if provided is not None:
            self._materials.extend(provided.materials)
            self._timeline.note(f"补正 provided: {len(provided.materials)} materials")
            self._phase = "review"
        elif self._withdrawal is None:
            self._timeline.step(S.REFUSED_AT_INTAKE, detail="补正 not provided in time")
            self._reject("refused-at-intake", "补正 not provided in time")

    async def _forward(self) -> None:
        if self._withdrawal is not None:
            self._reject("withdrawn", self._withdrawal.reason)
            return
        self._do(Effect.ISSUE_RECEIPT)
        if self._request.fee_fen:
            self._do(Effect.CHARGE_FEE, amount_fen=self._request.fee_fen)
        self._timeline.write(ForwardCase())
        self._timeline.step(
            S.FORWARDED,
            event_id=event_id(self._timeline, "forwarded"),
            detail=f"to {self._request.processing_region}",
        )
        self._timeline.step(S.IN_TRANSIT)
        # Receipt, fee, the forwarded event and in-transit in one transaction, run under the
        # name `forward_case`: the trace of a case shows where it left this region.
        await self._timeline.save(CaseActivities.forward_case)
        self._answer_due = workflow.now() + self._request.timings.answer_timeout
        self._phase = "await"

    async def _await_answer(self) -> None:
        """Handle one thing that happened (or the nearest due time passing), then return."""
        due = min(
            (d for d in (self._answer_due, self._supplement_due, self._cancel_due) if d),
            default=None,
        )
        timeout = max(due - workflow.now(), timedelta(0)) if due else None
        try:
            await self._timeline.wait(self._something_to_handle, timeout=timeout)
        except TimeoutError:
            self._on_due()
            return
        if self._delivery_failure is not None:
            failure = self._delivery_failure
            self._timeline.step(
                S.TRANSFER_FAILED, detail=f"{failure.event_type.value}: {failure.reason}"
            )
            self._reject("transfer-failed", failure.reason)
        elif self._events:
            self._on_event(self._events.pop(0))
        elif self._withdrawal is not None and not self._withdrawal_sent:
            self._withdrawal_sent = True
            self._answer_due = self._supplement_due = None
            self._awaiting = None
            send(
                self._timeline,
                step="withdrawn",
                event_type=EventType.WITHDRAWN,
                recipient=self._request.processing_region,
                data={"reason": self._withdrawal.reason},
                status=S.WITHDRAWAL_REQUESTED,
            )
            self._cancel_due = workflow.now() + self._request.timings.cancel_timeout
        elif self._supplement is not None:
            provided = self._supplement
            self._awaiting, self._supplement_due = None, None
            self._notifications += 1
            send(
                self._timeline,
                step=f"supplement-provided:{self._notifications}",
                event_type=EventType.SUPPLEMENT_PROVIDED,
                recipient=self._request.processing_region,
                data={"materials": [m.model_dump(mode="json") for m in provided.materials]},
                status=S.PROCESSING,
                detail=f"补正 sent: {len(provided.materials)} materials",
            )
            self._supplement = None

    async def _deliver(self) -> None:
        self._notify("result ready")
        channel = self._request.policy.delivery
        if channel == "manual":
            self._awaiting = "delivery"
            await self._timeline.wait(lambda: self._delivery is not None)
            confirmation = self._delivery
            assert confirmation is not None
        else:
            confirmation = DeliveryConfirmation(channel=channel, tracking_no=None)
        send(
            self._timeline,
            step="result-delivered",
            event_type=EventType.RESULT_DELIVERED,
            recipient=self._request.processing_region,
            data=confirmation.model_dump(mode="json"),
            status=S.RESULT_DELIVERED,
            detail=f"by {confirmation.channel}"
            + (f" {confirmation.tracking_no}" if confirmation.tracking_no else ""),
        )
        self._delivery, self._awaiting = None, None
        self._close(S.CLOSED)

    async def _compensate(self) -> None:
        self._timeline.step(S.COMPENSATING, detail=f"{self._outcome}: {self._reason}")
        for done in reversed(self._done):
            if self._request.timings.compensation_step_delay:
                await self._timeline.sleep(self._request.timings.compensation_step_delay)
            undo = COMPENSATION_OF[done]
            amount = self._request.fee_fen if undo is Effect.REFUND_FEE else 0
            effect(self._timeline, undo, amount_fen=amount, detail=self._reason)
        self._notify(f"case closed: {self._reason}")
        if self._outcome == "denied":
            # The denial is B's result too: tell B it reached the applicant, so B can close.
            send(
                self._timeline,
                step="result-delivered",
                event_type=EventType.RESULT_DELIVERED,
                recipient=self._request.processing_region,
                data={"channel": "notice"},
                status=S.COMPENSATING,
                detail="denial delivered with the closing notice",
            )
        self._close(S.CLOSED_REJECTED)

    # --- helpers --------------------------------------------------------------------------

    async def _next_review(self) -> FormalReview | None:
        if self._request.policy.formal_review == "pass":
            have = {m.name for m in self._materials}
            missing = tuple(m for m in self._request.required_materials if m not in have)
            if missing:
                return FormalReview(
                    outcome="supplement", missing=missing, reason="mandatory materials missing"
                )
            return FormalReview(outcome="pass", reason="automatic policy: materials complete")
        self._awaiting = "review"
        await self._timeline.wait(lambda: self._review is not None or self._withdrawal is not None)
        self._awaiting = None
        review = self._review
        if self._withdrawal is not None:
            self._reject("withdrawn", self._withdrawal.reason)
            return None
        return review

    async def _next_supplement(self, within: timedelta) -> SupplementMaterials | None:
        self._awaiting = "supplement"
        with contextlib.suppress(TimeoutError):
            await self._timeline.wait(
                lambda: self._supplement is not None or self._withdrawal is not None, timeout=within
            )
        self._awaiting = None
        if self._withdrawal is not None:
            self._reject("withdrawn", self._withdrawal.reason)
            return None
        return self._supplement

    def _inputs_pending(self) -> bool:
        """An input a person gave that the main loop has not fully applied yet: continuing as
        new now would leave its Update waiting, so the workflow waits for a later boundary."""
        unsent_withdrawal = self._withdrawal is not None and not self._withdrawal_sent
        pending = self._review or self._supplement or self._delivery
        return pending is not None or (unsent_withdrawal and self._phase == "await")

    def _something_to_handle(self) -> bool:
        return bool(
            self._events
            or self._delivery_failure is not None
            or (self._withdrawal is not None and not self._withdrawal_sent)
            or self._supplement is not None
        )

    def _on_due(self) -> None:
        now = workflow.now()
        if self._cancel_due and now >= self._cancel_due:
            self._timeline.note("processing region did not confirm the withdrawal in time")
            self._reject("withdrawn", self._withdrawal.reason if self._withdrawal else "")
        elif self._answer_due and now >= self._answer_due:
            self._timeline.step(S.TRANSFER_FAILED, detail="no answer from the processing region")
            self._reject("transfer-failed", "no answer from the processing region")
        elif self._supplement_due and now >= self._supplement_due:
            # The processing region decides what a missed 补正 means; stop waiting for it here.
            self._supplement_due, self._awaiting = None, None
            self._timeline.note("补正 deadline passed")

    def _on_event(self, event: InboundEvent) -> None:
        timeline, kind = self._timeline, event.type
        if kind is EventType.ACCEPTED:
            accepted = CaseAccepted.model_validate(event.data)
            self._answer_due = None
            timeline.set_deadline(accepted.deadline)
            timeline.step(
                S.PROCESSING,
                event_id=event.event_id,
                detail=f"accepted; deadline {accepted.deadline:%Y-%m-%d %H:%M}",
            )
        elif kind is EventType.NOT_ACCEPTED:
            reason = CaseNotAccepted.model_validate(event.data).reason
            timeline.step(S.NOT_ACCEPTED, event_id=event.event_id, detail=reason)
            self._reject("not-accepted", reason)
        elif kind is EventType.SUPPLEMENT_REQUESTED:
            request = SupplementRequested.model_validate(event.data)
            self._notify(f"补正 requested: {', '.join(request.missing)}")
            timeline.step(
                S.SUPPLEMENT_REQUESTED,
                event_id=event.event_id,
                detail=", ".join(request.missing),
            )
            self._awaiting, self._supplement_due = "supplement", request.due
        elif kind is EventType.DECIDED:
            decision = CaseDecided.model_validate(event.data)
            timeline.set_deadline(None)  # decided: the 承诺时限 no longer runs
            self._answer_due = self._supplement_due = self._cancel_due = None
            self._awaiting = None
            timeline.step(
                S.RESULT_RECEIVED,
                event_id=event.event_id,
                detail=f"{decision.outcome}: {decision.reason}",
            )
            if decision.outcome == "approved":
                self._outcome, self._phase = "approved", "deliver"
            else:
                self._reject("denied", decision.reason)
        elif kind is EventType.CANCELLED:
            timeline.note("processing region cancelled its side", event_id=event.event_id)
            self._reject("withdrawn", self._withdrawal.reason if self._withdrawal else "cancelled")
        elif kind in (EventType.DEADLINE_WARNING, EventType.DEADLINE_BREACHED):
            notice = DeadlineNotice.model_validate(event.data)
            if notice.kind == "breached":
                timeline.mark_overdue()
            timeline.note(
                f"deadline {notice.kind} ({notice.deadline:%Y-%m-%d})", event_id=event.event_id
            )
        else:
            timeline.note(f"ignored {kind.value}", event_id=event.event_id)

    def _do(self, what: Effect, *, amount_fen: int = 0, detail: str = "") -> None:
        effect(self._timeline, what, amount_fen=amount_fen, detail=detail)
        self._done.append(what)

    def _notify(self, message: str) -> None:
        self._notifications += 1
        effect(
            self._timeline,
            Effect.NOTIFY_APPLICANT,
            key=f"notify-applicant:{self._notifications}",
            detail=message,
        )

    def _reject(self, outcome: str, reason: str) -> None:
        self._outcome, self._reason, self._phase = outcome, reason, "compensate"

    def _close(self, status: str) -> None:
        self._timeline.step(status, detail=self._outcome or "")
        self._timeline.outcome = self._outcome
        self._timeline.closed = True
        self._phase = "closed"

    def _carry(self) -> IntakeCarry:
        return IntakeCarry(
            timeline=self._timeline.state(),
            phase=self._phase,
            done_effects=tuple(self._done),
            pending_events=tuple(self._events),
            outcome=self._outcome,
            reject_reason=self._reason,
            answer_due=self._answer_due,
            notifications=self._notifications,
        )

    def _restore(self, carry: IntakeCarry) -> None:
        self._timeline.restore(carry.timeline)
        self._phase, self._done = carry.phase, list(carry.done_effects)
        self._events, self._outcome = list(carry.pending_events), carry.outcome
        self._reason, self._answer_due = carry.reject_reason, carry.answer_due
        self._notifications = carry.notifications

    # --- signals, queries, updates ----------------------------------------------------------

    @workflow.signal
    def case_event(self, event: InboundEvent) -> None:
        if self._timeline.first_time(event.event_id):
            self._events.append(event)

    @workflow.signal
    def delivery_failed(self, failure: DeliveryFailure) -> None:
        if self._delivery_failure is None and self._phase in ("await", "forward"):
            self._delivery_failure = failure

    @workflow.query
    def progress(self) -> CaseProgress:
        return self._timeline.progress()

    @workflow.update
    async def record_formal_review(self, review: FormalReview) -> StepAck:
        self._review = review
        return await self._applied(lambda: self._review is None)

    @record_formal_review.validator
    def _check_review(self, review: FormalReview) -> None:
        self._expect("review", "formal review")

    @workflow.update
    async def provide_supplement(self, supplement: SupplementMaterials) -> StepAck:
        self._supplement = supplement
        return await self._applied(lambda: self._supplement is None)

    @provide_supplement.validator
    def _check_supplement(self, supplement: SupplementMaterials) -> None:
        self._expect("supplement", "补正 materials")

    @workflow.update
    async def confirm_delivery(self, confirmation: DeliveryConfirmation) -> StepAck:
        self._delivery = confirmation
        return await self._applied(lambda: self._delivery is None)

    @confirm_delivery.validator
    def _check_delivery(self, confirmation: DeliveryConfirmation) -> None:
        self._expect("delivery", "result delivery")

    @workflow.update
    async def withdraw(self, withdrawal: Withdrawal) -> StepAck:
        self._withdrawal = withdrawal
        return await self._applied(lambda: self._withdrawal_sent)

    @withdraw.validator
    def _check_withdraw(self, withdrawal: Withdrawal) -> None:
        if self._withdrawal is not None:
            raise ApplicationError("the case is already being withdrawn", type="StepNotAllowed")
        if self._phase not in _WITHDRAWABLE or self._outcome is not None:
            raise ApplicationError(
                f"a case in status {self._timeline.status} can no longer be withdrawn",
                type="StepNotAllowed",
            )

    def _expect(self, awaiting: str, step: str) -> None:
        pending = self._review or self._supplement or self._delivery
        if self._awaiting != awaiting or self._withdrawal is not None or pending is not None:
            raise ApplicationError(
                f"{step} is not expected in status {self._timeline.status}", type="StepNotAllowed"
            )

    async def _applied(self, done: Callable[[], bool]) -> StepAck:
        """Return once the main loop has applied the input (or the case stopped needing it) and
        committed what it did: the caller is told a status the database holds."""
        await workflow.wait_condition(
            lambda: (done() or self._phase in ("compensate", "closed")) and self._timeline.saved
        )
        return StepAck(case_no=self._request.case_no, status=self._timeline.status)
