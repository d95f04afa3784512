"""The processing region's (B, 办理地) workflow for one case.

Started by the inbox dispatcher with signal-with-start carrying the `forwarded` event, so the
workflow and its first event arrive together and a redelivered event cannot start a second one.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from events.models import EventType, InboundEvent
    from workflows.models import (
        CaseOutcome,
        CaseProgress,
        ProcessingStart,
        ProcessingStatus,
        RegisterForwarded,
        SendDecision,
    )
    from workflows.steps import STEP_OPTIONS, advance
    from workflows.timeline import Timeline


@workflow.defn
class ProcessingWorkflow:
    @workflow.init
    def __init__(self, start: ProcessingStart) -> None:
        self._timeline = Timeline(start.case_no, start.processing_region, ProcessingStatus.WAITING)
        self._forwarded: InboundEvent | None = None

    @workflow.run
    async def run(self, start: ProcessingStart) -> CaseOutcome:
        timeline = self._timeline
        await workflow.wait_condition(lambda: self._forwarded is not None)
        forwarded = self._forwarded
        assert forwarded is not None
        origin = forwarded.sender_region

        await workflow.execute_activity_method(
            CaseActivities.register_forwarded,
            RegisterForwarded(case_no=start.case_no, event_id=forwarded.event_id),
            **STEP_OPTIONS,
        )
        timeline.step(
            ProcessingStatus.RECEIVED, event_id=forwarded.event_id, detail=f"from {origin}"
        )
        await advance(timeline, ProcessingStatus.ACCEPTED, detail="automatic policy; clock starts")

        approved = start.policy.decision == "approve"
        outcome = "approved" if approved else "denied"
        await advance(
            timeline,
            ProcessingStatus.APPROVED if approved else ProcessingStatus.DENIED,
            detail="automatic policy",
        )
        decided_id = await workflow.execute_activity_method(
            CaseActivities.send_decision,
            SendDecision(
                case_no=start.case_no,
                origin_region=origin,
                outcome=outcome,
                reason="meets the item's conditions"
                if approved
                else "does not meet the item's conditions",
            ),
            **STEP_OPTIONS,
        )
        timeline.step(
            ProcessingStatus.RESULT_SENT, event_id=decided_id, detail=f"{outcome} to {origin}"
        )
        await advance(timeline, ProcessingStatus.CLOSED)
        timeline.closed = True
        return CaseOutcome.model_validate(
            {"case_no": start.case_no, "status": ProcessingStatus.CLOSED, "outcome": outcome}
        )

    @workflow.signal
    def case_event(self, event: InboundEvent) -> None:
        if not self._timeline.first_time(event.event_id):
            return
        if event.type is EventType.FORWARDED and self._forwarded is None:
            self._forwarded = event

    @workflow.query
    def progress(self) -> CaseProgress:
        return self._timeline.progress()
