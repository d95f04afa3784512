"""The workflow side of a case's record, shared by both sides' workflows.

The case's state (status, steps, deadline …) is the lifecycle model's `CaseState`; what is
kept here is only what reaches the world from it: the database writes of the steps taken
since the case last waited, committed in one transaction before every wait, and the search
attributes, upserted once per wait. Both are empty whenever the case waits, so nothing here
needs carrying across continue-as-new.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from activities.contracts import Committed, EffectSettled
    from workflows.lifecycle.engine import CaseRecord
    from workflows.lifecycle.route import RouteLegView
    from workflows.models import CaseProgress, CaseWrite, CommitSteps
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

Commit = Callable[[CaseActivities, CommitSteps], Awaitable[Committed | None]]


class Recorder:
    """Commits a case's steps and keeps its search attributes current."""

    def __init__(self, current: Callable[[], CaseRecord]) -> None:
        self._current = current
        state = current()
        self.case_no = state.case_no
        # Between two waits a case rests nowhere, so only the status it reaches needs writing;
        # a worker lost before the commit replays those steps and commits them then.
        self._writes: list[CaseWrite] = []
        self._saved_status = state.status
        self._published = (state.status, state.deadline, state.overdue)

    def record(self, writes: Iterable[CaseWrite]) -> None:
        """Database writes of the steps just taken, committed with the next `save`."""
        self._writes.extend(writes)

    @property
    def saved(self) -> bool:
        """True when the database holds every step the case has taken."""
        return not self._writes and self._saved_status == self._current().status

    @property
    def forwarding(self) -> bool:
        return any(getattr(w, "kind", "") == "forward" for w in self._writes)

    async def save(self) -> tuple[EffectSettled, ...]:
        """Commit the writes collected since the last save, then the status reached, in one
        transaction; what became of the effects the commit carried out itself (those whose
        adapter reaches no outside system). The commit that forwards a case runs as
        `forward_case`, so a trace shows where the case left this region."""
        if self.saved:
            return ()
        state = self._current()
        status = state.status
        count = len(self._writes)
        commit: Commit = (
            CaseActivities.forward_case if self.forwarding else CaseActivities.commit_steps
        )
        committed = await workflow.execute_local_activity_method(
            commit,
            CommitSteps(
                case_no=self.case_no,
                writes=tuple(self._writes),
                status=status if status != self._saved_status else None,
                steps=len(state.steps),
            ),
            **STEP_OPTIONS,
        )
        # Only the main loop records, and it is the one waiting here; cut exactly what was sent.
        del self._writes[:count]
        self._saved_status = status
        # A history recorded before commits carried effects out holds None here.
        return committed.settled if committed is not None else ()

    def publish(self) -> None:
        """Upsert the search attributes that changed: each upsert is a history event, and only
        where a case rests is worth searching for."""
        state = self._current()
        status, deadline, overdue = self._published
        changes: list[SearchAttributeUpdate[Any]] = []
        if state.status != status:
            changes.append(CASE_STATUS.value_set(state.status))
        if state.deadline != deadline:
            changes.append(
                DEADLINE.value_set(state.deadline) if state.deadline else DEADLINE.value_unset()
            )
        if state.overdue != overdue:
            changes.append(OVERDUE.value_set(state.overdue))
        if changes:
            workflow.upsert_search_attributes(changes)
            self._published = (state.status, state.deadline, state.overdue)

    async def wait(self, condition: Callable[[], bool], timeout: timedelta | None = None) -> None:
        """Wait for the case to move on, after committing its steps and making where it rests
        searchable."""
        await self.save()
        self.publish()
        await workflow.wait_condition(condition, timeout=timeout)


def progress(state: CaseRecord, closed: bool, route: tuple[RouteLegView, ...] = ()) -> CaseProgress:
    return CaseProgress(
        route=route,
        case_no=state.case_no,
        region=state.region,
        status=state.status,
        closed=closed,
        outcome=state.outcome,
        deadline=state.deadline,
        statutory_deadline=state.statutory_deadline,
        overdue=state.overdue,
        steps=state.steps,
        effects_open=state.effects,
    )
