"""A workflow's own record of its steps, shared by both sides' workflows."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import CaseProgress, CaseStep
    from workflows.search import CASE_STATUS


class Timeline:
    """Status, step list and applied-event ids; every change also updates CaseStatus."""

    def __init__(self, case_no: str, region: str, status: str) -> None:
        self.case_no = case_no
        self.region = region
        self.status = status
        self.closed = False
        self.steps: list[CaseStep] = []
        self.applied_events: set[str] = set()

    def step(self, status: str, *, event_id: str | None = None, detail: str = "") -> None:
        self.status = status
        self.steps.append(
            CaseStep(
                at=workflow.now(),
                region=self.region,
                status=status,
                event_id=event_id,
                detail=detail,
            )
        )
        workflow.upsert_search_attributes([CASE_STATUS.value_set(status)])

    def first_time(self, event_id: str) -> bool:
        """True once per event id: redelivered events are ignored, not applied twice."""
        if event_id in self.applied_events:
            return False
        self.applied_events.add(event_id)
        return True

    def progress(self) -> CaseProgress:
        return CaseProgress(
            case_no=self.case_no,
            region=self.region,
            status=self.status,
            closed=self.closed,
            steps=tuple(self.steps),
        )
