"""The accepting region's (A, 收件地) intake workflow for one case.

The lifecycle itself (phases, the transition table, the state) is the pure model in
`workflows.lifecycle.intake`; this workflow feeds it what happens (Updates, the processing
region's events, the transport's delivery failures, timers) and commits what it does.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from events.models import DeliveryFailure, InboundEvent
    from workflows.driver import Driver, Side
    from workflows.effect_signals import EffectSignals
    from workflows.lifecycle import intake as model
    from workflows.lifecycle import route_calls
    from workflows.lifecycle.route import RouteSignal, route_view
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
    from workflows.naming import intake_workflow_id
    from workflows.search import CASE_NO, CASE_STATUS, ITEM_CODE, ORIGIN_REGION, PROCESSING_REGION
    from workflows.timeline import progress


async def tell_route(request: IntakeRequest, state: IntakeState) -> IntakeState:
    """A 多地联办 hub starts its legs' workflows and instructs them; a leg reports to its hub
    (workflows/lifecycle/route_calls.py decides what, once each)."""
    told = list(state.route_told)
    for call in route_calls.pending(request, state):
        if isinstance(call, route_calls.StartLeg):
            leg = call.request
            await workflow.start_child_workflow(
                IntakeWorkflow.run,
                leg,
                id=intake_workflow_id(leg.case_no),
                # A leg outlives a hub that continues as new; the hub waits for its legs.
                parent_close_policy=ParentClosePolicy.ABANDON,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(CASE_NO, leg.case_no),
                        SearchAttributePair(ITEM_CODE, leg.item_code),
                        SearchAttributePair(ORIGIN_REGION, leg.origin_region),
                        SearchAttributePair(PROCESSING_REGION, leg.processing_region),
                        SearchAttributePair(CASE_STATUS, model.Status.RECEIVED.value),
                    ]
                ),
            )
        else:
            target = workflow.get_external_workflow_handle(intake_workflow_id(call.case_no))
            try:
                await target.signal(IntakeWorkflow.route_signal, call.signal)
            except FailureError as err:
                # The other workflow is gone (closed): nothing it could still act on. Seen in
                # the worker's log; the case's own record shows the route as it stands.
                workflow.logger.warning("route signal %s not delivered: %s", call.key, err)
        told.append(call.key)
    if len(told) == len(state.route_told):
        return state
    return state.model_copy(update={"route_told": tuple(told)})


SIDE: Side[IntakeRequest, IntakeState] = Side(
    next_trigger=model.next_trigger,
    due=model.due,
    step=model.step,
    allows=model.allows,
    closed=lambda state: state.closed,
    refusal=model.refusal,
    tell=tell_route,
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

    @workflow.signal
    def route_signal(self, signal: RouteSignal) -> None:
        """多地联办: a leg's answer to its hub, or the hub's instruction to a leg."""
        self._case.receive(signal)

    @workflow.query
    def progress(self) -> CaseProgress:
        state, request = self._case.state, self._case.request
        route = route_view(state.case_no, request.route, state.route)
        return progress(state, self._case.closed, route)

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
