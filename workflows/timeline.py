"""A workflow's own record of its steps, shared by both sides' workflows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from workflows.models import CaseProgress, CaseStep, CaseWrite, CommitSteps, TimelineState
    from workflows.search import CASE_STATUS, DEADLINE, OVERDUE

# A commit is a short, idempotent database transaction, so it runs as a local activity: one
# marker in the history instead of three events and a workflow task each, which keeps a case's
# history small. Retrying forever (with backoff) is safe: a database outage delays a case, it
# never loses or fails it; a worker that dies mid-commit has it re-run by the next one.
STEP_OPTIONS: dict[str, Any] = {
    # Short enough that an activity lost with a killed worker is retried within seconds.
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
    ),
}

Commit = Callable[[CaseActivities, CommitSteps], Awaitable[None]]


class Timeline:
    """Status, steps, deadline and applied-event ids; changes also update the search attributes
    and, through `save`, the region's database."""

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
        # Database writes are kept the same way and committed before the case waits (or when a
        # workflow commits explicitly): the steps taken in between (status changes, effects,
        # outgoing events) land in ONE transaction and one history marker, not one marker per
        # step. Between two waits a case rests nowhere, so only the status it reaches needs
        # writing; a worker lost before the commit replays those steps and commits them then.
        self._writes: list[CaseWrite] = []
        self._status_unsaved = False

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
        self._status_unsaved = True

    def write(self, write: CaseWrite) -> None:
        """A database write of the current step, committed with the next `save`."""
        self._writes.append(write)

    @property
    def saved(self) -> bool:
        """True when the database holds every step on the timeline."""
        return not self._writes and not self._status_unsaved

    async def save(self, commit: Commit = CaseActivities.commit_steps) -> None:
        """Commit the writes collected since the last save, then the status reached, in one
        transaction. `commit` names the activity, so a trace can show which commit it was."""
        if self.saved:
            return
        count = len(self._writes)
        await workflow.execute_local_activity_method(
            commit,
            CommitSteps(
                case_no=self.case_no,
                writes=tuple(self._writes),
                status=self.status if self._status_unsaved else None,
            ),
            **STEP_OPTIONS,
        )
        # Only the main loop writes, and it is the one waiting here; cut exactly what was sent.
        del self._writes[:count]
        self._status_unsaved = False

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
        """Wait for the case to move on, after committing its steps and making where it rests
        searchable."""
        await self.save()
        self.save_search_attributes()
        await workflow.wait_condition(condition, timeout=timeout)

    async def sleep(self, duration: timedelta) -> None:
        await self.save()
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
