"""The accepting region's (A, 收件地) intake workflow for one case.

The lifecycle itself (phases, the transition table, the state) is the pure model in
`workflows.lifecycle.intake`; this workflow feeds it what happens (Updates, the processing
region's events, the transport's delivery failures, timers) and commits what it does.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from events.models import DeliveryFailure, InboundEvent
    from workflows.driver import Driver, Side
    from workflows.effect_signals import EffectSignals
    from workflows.lifecycle import intake as model
    from workflows.models import (
        CaseOutcome,
        CaseProgress,
        DeliveryConfirmation,
        FormalReview,
        IntakeRequest,
        IntakeState,
        StepAck,
        SupplementMaterials,
        Withdrawal,
    )
    from workflows.timeline import progress

SIDE: Side[IntakeRequest, IntakeState] = Side(
    next_trigger=model.next_trigger,
    due=model.due,
    step=model.step,
    allows=model.allows,
    closed=lambda state: state.closed,
    refusal=model.refusal,
)


@workflow.defn
class IntakeWorkflow(EffectSignals):
    @workflow.init
    def __init__(self, request: IntakeRequest) -> None:
        self._case = Driver(SIDE, request, model.start(request))

    @workflow.run
    async def run(self, request: IntakeRequest) -> CaseOutcome:
        if not await self._case.run(request.timings.history_limit):
            workflow.continue_as_new(request.model_copy(update={"carry": self._case.state}))
        state = self._case.state
        return CaseOutcome(case_no=request.case_no, status=state.status, outcome=state.outcome)

    @workflow.signal
    def case_event(self, event: InboundEvent) -> None:
        self._case.receive(event)

    @workflow.signal
    def delivery_failed(self, failure: DeliveryFailure) -> None:
        self._case.receive(failure)

    @workflow.query
    def progress(self) -> CaseProgress:
        return progress(self._case.state, self._case.closed)

    @workflow.update
    async def record_formal_review(self, review: FormalReview) -> StepAck:
        return await self._case.take(model.input_trigger(review), "formal review")

    @record_formal_review.validator
    def _check_review(self, review: FormalReview) -> None:
        self._case.check(model.input_trigger(review).kind, "formal review", review)

    @workflow.update
    async def provide_supplement(self, supplement: SupplementMaterials) -> StepAck:
        return await self._case.take(model.input_trigger(supplement), "补正 materials")

    @provide_supplement.validator
    def _check_supplement(self, supplement: SupplementMaterials) -> None:
        self._case.check(model.On.SUPPLEMENT_PROVIDED, "补正 materials")

    @workflow.update
    async def confirm_delivery(self, confirmation: DeliveryConfirmation) -> StepAck:
        return await self._case.take(model.input_trigger(confirmation), "result delivery")

    @confirm_delivery.validator
    def _check_delivery(self, confirmation: DeliveryConfirmation) -> None:
        self._case.check(model.On.DELIVERED, "result delivery")

    @workflow.update
    async def withdraw(self, withdrawal: Withdrawal) -> StepAck:
        return await self._case.take(model.input_trigger(withdrawal), "withdrawal")

    @withdraw.validator
    def _check_withdraw(self, withdrawal: Withdrawal) -> None:
        self._case.check(model.On.WITHDRAW, "withdrawal")
