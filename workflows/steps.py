"""Activity options and the one way a workflow moves a case to a new status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from workflows.models import SetStatus
    from workflows.timeline import Timeline

# Activities are idempotent, so retrying forever (with backoff) is safe: a database or
# broker outage delays a case, it never loses or fails it.
STEP_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
    ),
}


async def advance(
    timeline: Timeline, status: str, *, event_id: str | None = None, detail: str = ""
) -> None:
    """Record the new status in the region's database, then on the workflow's timeline."""
    await workflow.execute_activity_method(
        CaseActivities.set_status,
        SetStatus(case_no=timeline.case_no, status=status),
        **STEP_OPTIONS,
    )
    timeline.step(status, event_id=event_id, detail=detail)
