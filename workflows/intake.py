"""The accepting region's (A, 收件地) intake workflow for one case."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from events.models import CaseDecided, EventType, InboundEvent
    from workflows.models import CaseOutcome, CaseProgress, ForwardCase, IntakeRequest, IntakeStatus
    from workflows.steps import STEP_OPTIONS, advance
    from workflows.timeline import Timeline


@workflow.defn
class IntakeWorkflow:
    @workflow.init
    def __init__(self, request: IntakeRequest) -> None:
        self._timeline = Timeline(request.case_no, request.origin_region, IntakeStatus.RECEIVED)
        self._decision: CaseDecided | None = None
        self._decision_event: str | None = None

    @workflow.run
    async def run(self, request: IntakeRequest) -> CaseOutcome:
        timeline = self._timeline
        timeline.step(
            IntakeStatus.RECEIVED, detail=f"item {request.item_code} v{request.item_version}"
        )
        await advance(timeline, IntakeStatus.FORMAL_REVIEW_PASSED, detail="automatic policy")

        forwarded_id = await workflow.execute_activity_method(
            CaseActivities.forward_case, ForwardCase(case_no=request.case_no), **STEP_OPTIONS
        )
        timeline.step(
            IntakeStatus.FORWARDED, event_id=forwarded_id, detail=f"to {request.processing_region}"
        )
        await advance(timeline, IntakeStatus.IN_TRANSIT)

        try:
            await workflow.wait_condition(
                lambda: self._decision is not None, timeout=request.answer_timeout
            )
        except TimeoutError:
            await advance(
                timeline,
                IntakeStatus.TRANSFER_FAILED,
                detail="no answer from the processing region",
            )
            return await self._close(None)

        decision = self._decision
        assert decision is not None
        await advance(
            timeline,
            IntakeStatus.RESULT_RECEIVED,
            event_id=self._decision_event,
            detail=f"{decision.outcome} by {request.processing_region}",
        )
        await advance(
            timeline, IntakeStatus.RESULT_DELIVERED, detail="automatic policy: window pickup"
        )
        return await self._close(decision.outcome)

    @workflow.signal
    def case_event(self, event: InboundEvent) -> None:
        if not self._timeline.first_time(event.event_id):
            return
        if event.type is EventType.DECIDED and self._decision is None:
            self._decision = CaseDecided.model_validate(event.data)
            self._decision_event = event.event_id

    @workflow.query
    def progress(self) -> CaseProgress:
        return self._timeline.progress()

    async def _close(self, outcome: str | None) -> CaseOutcome:
        last = self._timeline.status
        await advance(self._timeline, IntakeStatus.CLOSED, detail=f"after {last}")
        self._timeline.closed = True
        return CaseOutcome.model_validate(
            {"case_no": self._timeline.case_no, "status": last, "outcome": outcome}
        )
