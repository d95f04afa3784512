"""Activity options and the few ways a workflow acts on the world, shared by both sides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from events.models import EventType
    from workflows.models import ApplyEffect, Effect, SendEvent, SetStatus
    from workflows.timeline import Timeline

# Every step is a short, idempotent database transaction, so it runs as a local activity: one
# marker in the history instead of three events and a workflow task each, which keeps a case's
# history small. Retrying forever (with backoff) is safe: a database outage delays a case, it
# never loses or fails it; a worker that dies mid-step has the step re-run by the next one.
STEP_OPTIONS: dict[str, Any] = {
    # Short enough that an activity lost with a killed worker is retried within seconds.
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
    ),
}


async def advance(
    timeline: Timeline, status: str, *, event_id: str | None = None, detail: str = ""
) -> None:
    """Record the new status in the region's database, then on the workflow's timeline."""
    await workflow.execute_local_activity_method(
        CaseActivities.set_status,
        SetStatus(case_no=timeline.case_no, status=status),
        **STEP_OPTIONS,
    )
    timeline.step(status, event_id=event_id, detail=detail)


async def send(
    timeline: Timeline,
    *,
    step: str,
    event_type: EventType,
    recipient: str,
    data: dict[str, object],
    status: str,
    detail: str = "",
) -> str:
    """Send an event and move to `status` in one transaction; returns the event id."""
    event_id: str = await workflow.execute_local_activity_method(
        CaseActivities.send_event,
        SendEvent(
            case_no=timeline.case_no,
            step=step,
            event_type=event_type,
            recipient=recipient,
            data={"case_no": timeline.case_no, **data},
            status=status,
        ),
        **STEP_OPTIONS,
    )
    timeline.step(status, event_id=event_id, detail=detail)
    return event_id


async def effect(
    timeline: Timeline, what: Effect, *, key: str = "", amount_fen: int = 0, detail: str = ""
) -> None:
    """Do an effect once per case and key, and note it on the timeline."""
    await workflow.execute_local_activity_method(
        CaseActivities.apply_effect,
        ApplyEffect(
            case_no=timeline.case_no,
            effect=what,
            key=key or what.value,
            amount_fen=amount_fen,
            detail=detail,
        ),
        **STEP_OPTIONS,
    )
    timeline.note(f"{what.value}{f': {detail}' if detail else ''}")


def history_too_long(limit: int) -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit
