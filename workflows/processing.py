"""The processing region's (B, 办理地) workflow for one case.

Started by the inbox dispatcher with signal-with-start carrying the `forwarded` event, so the
workflow and its first event arrive together and a redelivered event cannot start a second one.
The lifecycle itself is the pure model in `workflows.lifecycle.processing`; this workflow feeds
it what happens and commits what it does.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from events.models import InboundEvent
    from workflows.driver import Driver, Side
    from workflows.effect_signals import EffectSignals
    from workflows.lifecycle import processing as model
    from workflows.models import (
        AcceptanceDecision,
        CaseOutcome,
        CaseProgress,
        Decision,
        ProcessingStart,
        ProcessingState,
        StepAck,
        SupplementRequest,
    )
    from workflows.timeline import progress

SIDE: Side[ProcessingStart, ProcessingState] = Side(
    next_trigger=model.next_trigger,
    due=model.due,
    step=model.step,
    allows=model.allows,
    closed=lambda state: state.closed,
    refusal=model.refusal,
)


@workflow.defn
class ProcessingWorkflow(EffectSignals):
    @workflow.init
    def __init__(self, start: ProcessingStart) -> None:
        self._case = Driver(SIDE, start, model.start(start))

    @workflow.run
    async def run(self, start: ProcessingStart) -> CaseOutcome:
        if not await self._case.run(start.timings.history_limit):
            workflow.continue_as_new(start.model_copy(update={"carry": self._case.state}))
        state = self._case.state
        return CaseOutcome(case_no=start.case_no, status=state.status, outcome=state.outcome)

    @workflow.signal
    def case_event(self, event: InboundEvent) -> None:
        self._case.receive(event)

    @workflow.query
    def progress(self) -> CaseProgress:
        return progress(self._case.state, self._case.closed)

    @workflow.update
    async def decide_acceptance(self, decision: AcceptanceDecision) -> StepAck:
        return await self._case.take(model.input_trigger(decision), "accepting or not accepting")

    @decide_acceptance.validator
    def _check_acceptance(self, decision: AcceptanceDecision) -> None:
        self._case.check(model.input_trigger(decision).kind, "accepting or not accepting")

    @workflow.update
    async def request_supplement(self, request: SupplementRequest) -> StepAck:
        return await self._case.take(model.input_trigger(request), "a 补正 request")

    @request_supplement.validator
    def _check_supplement_request(self, request: SupplementRequest) -> None:
        self._case.check(model.On.REQUEST_SUPPLEMENT, "a 补正 request", request)

    @workflow.update
    async def decide(self, decision: Decision) -> StepAck:
        return await self._case.take(model.input_trigger(decision), "a decision")

    @decide.validator
    def _check_decision(self, decision: Decision) -> None:
        self._case.check(model.input_trigger(decision).kind, "a decision")
