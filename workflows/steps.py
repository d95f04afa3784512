"""The few ways a workflow acts on the world, shared by both sides.

A step notes itself on the timeline and leaves its database write with it; the timeline commits
the writes of all steps taken since the case last waited in one transaction (`Timeline.save`,
called before every wait). So a step's case change and the event or effect announcing it
always commit together, and an automatically approved case costs a few history markers
instead of one per step.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from events.envelope import event_id_for
    from events.models import EventType
    from workflows.models import ApplyEffect, Effect, SendEvent
    from workflows.timeline import Timeline


def event_id(timeline: Timeline, step: str) -> str:
    """The id the commit will give this step's event: derived from case, step and sender, so
    the workflow knows it before the event is written and a retried commit reuses it."""
    return event_id_for(timeline.case_no, step, timeline.region)


def send(
    timeline: Timeline,
    *,
    step: str,
    event_type: EventType,
    recipient: str,
    data: dict[str, object],
    status: str,
    detail: str = "",
) -> str:
    """Send an event and move to `status` (both committed with the next save); returns the
    event id."""
    timeline.write(
        SendEvent(
            step=step,
            event_type=event_type,
            recipient=recipient,
            data={"case_no": timeline.case_no, **data},
        )
    )
    sent = event_id(timeline, step)
    timeline.step(status, event_id=sent, detail=detail)
    return sent


def effect(
    timeline: Timeline, what: Effect, *, key: str = "", amount_fen: int = 0, detail: str = ""
) -> None:
    """Do an effect once per case and key (committed with the next save), and note it."""
    timeline.write(
        ApplyEffect(effect=what, key=key or what.value, amount_fen=amount_fen, detail=detail)
    )
    timeline.note(f"{what.value}{f': {detail}' if detail else ''}")


def history_too_long(limit: int) -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit
