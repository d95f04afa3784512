"""A workflow's own record of its steps, shared by both sides' workflows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from workflows.models import CaseProgress, CaseStep, TimelineState
    from workflows.search import CASE_STATUS, DEADLINE, OVERDUE


class Timeline:
    """Status, steps, deadline and applied-event ids; changes also update the search attributes."""

    def __init__(self, case_no: str, region: str, status: str) -> None:
        self.case_no = case_no
        self.region = region
        self.status = status
        self.closed = False
        self.outcome: str | None = None
        self.deadline: datetime | None = None
        self.overdue = False
        self.steps: list[CaseStep] = []
        self.applied_events: set[str] = set()
        # Search attributes change with every step but are written once per wait: each upsert
        # is a history event, and only the value a case rests at is worth searching for.
        self._unsaved: dict[str, SearchAttributeUpdate[Any]] = {}

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
        self._unsaved["status"] = CASE_STATUS.value_set(status)

    def note(self, detail: str, *, event_id: str | None = None) -> None:
        """A timeline line that does not change the status (a warning, an effect done)."""
        self.steps.append(
            CaseStep(
                at=workflow.now(),
                region=self.region,
                status=self.status,
                event_id=event_id,
                detail=detail,
            )
        )

    def set_deadline(self, deadline: datetime | None) -> None:
        self.deadline = deadline
        self._unsaved["deadline"] = (
            DEADLINE.value_set(deadline) if deadline else DEADLINE.value_unset()
        )

    def mark_overdue(self) -> None:
        self.overdue = True
        self._unsaved["overdue"] = OVERDUE.value_set(True)

    def save_search_attributes(self) -> None:
        if self._unsaved:
            workflow.upsert_search_attributes(list(self._unsaved.values()))
            self._unsaved.clear()

    async def wait(self, condition: Callable[[], bool], timeout: timedelta | None = None) -> None:
        """Wait for the case to move on, after making where it rests searchable."""
        self.save_search_attributes()
        await workflow.wait_condition(condition, timeout=timeout)

    async def sleep(self, duration: timedelta) -> None:
        self.save_search_attributes()
        await workflow.sleep(duration)

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
            outcome=self.outcome,
            deadline=self.deadline,
            overdue=self.overdue,
            steps=tuple(self.steps),
        )

    def state(self) -> TimelineState:
        return TimelineState(
            status=self.status,
            steps=tuple(self.steps),
            applied_events=tuple(sorted(self.applied_events)),
            deadline=self.deadline,
            overdue=self.overdue,
        )

    def restore(self, state: TimelineState) -> None:
        self.status = state.status
        self.steps = list(state.steps)
        self.applied_events = set(state.applied_events)
        self.deadline = state.deadline
        self.overdue = state.overdue
