"""A workflow replayed from its start sees every signal at once.

Found by the crash-delivery test in CI: A's node died during the intake workflow's first task
(after its local activity had committed the `forwarded` event), B accepted and decided, and
when the task was retried the workflow began again at `received` with B's `accepted` and
`decided` already queued. The model took them first, found no row for them in `received`,
noted them as ignored, forwarded, and then waited for an answer that had already come.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from events.models import EventType, InboundEvent
from workflows.lifecycle import intake as A

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
CASE = "350000-20261130-ZZET7HWB"


def _event(kind: EventType, event_id: str, data: dict[str, object]) -> InboundEvent:
    return InboundEvent(
        event_id=event_id,
        type=kind,
        sender_region="440000",
        time=NOW,
        data={"case_no": CASE, **data},
    )


def _rest(request: A.IntakeRequest, state: A.IntakeState) -> A.IntakeState:
    """Take every step the case takes without waiting; the state it then rests in."""
    for _ in range(100):
        trigger = A.next_trigger(request, state, NOW)
        if trigger is None:
            return state
        state = A.step(request, state, trigger, NOW).state
    raise AssertionError("the case never came to rest")


def test_answers_that_arrived_before_forwarding_are_applied_after_it() -> None:
    request = A.IntakeRequest(
        case_no=CASE,
        item_code="GG-00102-000",
        item_version=1,
        origin_region="350000",
        processing_region="440000",
    )
    state = A.start(request)
    accepted = _event(
        EventType.ACCEPTED,
        "accepted-1",
        {"promised_working_days": 20, "deadline": (NOW + timedelta(days=30)).isoformat()},
    )
    decided = _event(
        EventType.DECIDED,
        "decided-1",
        {"outcome": "approved", "reason": "符合条件", "decision_digest": None},
    )
    state = A.receive(A.receive(state, accepted), decided)

    rested = _rest(request, state)

    statuses = [s.status for s in rested.steps]
    assert A.Status.FORWARDED in statuses
    # Forwarded first, then B's answers in the order they came, then delivery and close.
    assert statuses.index(A.Status.FORWARDED) < statuses.index(A.Status.PROCESSING)
    assert statuses.index(A.Status.PROCESSING) < statuses.index(A.Status.RESULT_RECEIVED)
    assert rested.phase is A.Phase.CLOSED
    assert not any("ignored" in s.detail for s in rested.steps)
