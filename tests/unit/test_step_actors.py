"""Every step a case takes records who took it, in the step itself: the person (from the
Update), the item's automatic policy, the other region's event, or the workflow. The record is
part of the state a workflow carries across continue-as-new, and the operators' timeline
shows it (经办人)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from events.models import EventType, InboundEvent
from operators.html import swimlane_html
from operators.model import RegionRecords
from operators.render import render
from operators.stitch import stitch
from workflows.lifecycle import intake as A
from workflows.lifecycle import processing as B
from workflows.models import (
    AcceptanceDecision,
    Actor,
    AutoPolicy,
    CaseProgress,
    DeliveryConfirmation,
    FormalReview,
    SendEvent,
)

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
CASE = "350000-20261130-ZZET7HWB"
CLERK = Actor(kind="person", person_id="FZ1001", name="王芳", region="350000", window="fz-01")
OFFICER = Actor(kind="person", person_id="GZ2001", name="李明", region="440000", window="gz-03")
MANUAL = AutoPolicy(
    formal_review="manual", acceptance="manual", decision="manual", delivery="manual"
)


def _request(policy: AutoPolicy = MANUAL, received_by: Actor | None = None) -> A.IntakeRequest:
    return A.IntakeRequest(
        case_no=CASE,
        item_code="GG-00102-000",
        item_version=1,
        origin_region="350000",
        processing_region="440000",
        policy=policy,
        received_by=received_by,
    )


def _rest(request: A.IntakeRequest, state: A.IntakeState) -> A.IntakeState:
    for _ in range(100):
        trigger = A.next_trigger(request, state, NOW)
        if trigger is None:
            return state
        state = A.step(request, state, trigger, NOW).state
    raise AssertionError("the case never came to rest")


def _new_steps(before: A.IntakeState, after: A.IntakeState) -> list[Actor | None]:
    return [s.actor for s in after.steps[len(before.steps) :]]


def _reviewed_by_the_clerk() -> tuple[A.IntakeRequest, A.IntakeState, A.IntakeState]:
    request = _request(received_by=CLERK)
    waiting = _rest(request, A.start(request))
    review = FormalReview(outcome="pass", actor=CLERK)
    after = A.step(request, waiting, A.input_trigger(review), NOW).state
    return request, waiting, after


def test_a_persons_step_records_the_person_on_every_line_it_caused() -> None:
    _, waiting, after = _reviewed_by_the_clerk()
    assert [s.actor for s in waiting.steps] == [CLERK, CLERK, CLERK]  # taken at the window
    lines = after.steps[len(waiting.steps) :]
    assert [s.status for s in lines if s.status != "formal-review-passed"][-2:] == [
        "forwarded",
        "in-transit",
    ]
    assert {s.actor for s in lines} == {CLERK}


def test_a_policy_step_says_it_was_the_policy_and_a_workflow_step_the_system() -> None:
    request = _request(policy=AutoPolicy(formal_review="pass"))
    state = _rest(request, A.start(request))
    by_status = {s.status: s.actor for s in state.steps}
    assert by_status["received"] == Actor(kind="system", region="350000")
    policy = by_status["formal-review-passed"]
    assert policy == Actor(kind="policy", region="350000")
    assert policy.label == "自动（策略）"


def test_the_other_regions_event_and_a_timer_are_not_people() -> None:
    request, _, forwarded = _reviewed_by_the_clerk()
    accepted = InboundEvent(
        event_id="accepted-1",
        type=EventType.ACCEPTED,
        sender_region="440000",
        time=NOW,
        data={
            "case_no": CASE,
            "promised_working_days": 20,
            "deadline": (NOW + timedelta(days=30)).isoformat(),
        },
    )
    processing = _rest(request, A.receive(forwarded, accepted))
    assert processing.steps[-1].actor == Actor(kind="region", region="440000")
    assert processing.steps[-1].actor.label == "440000 来件"
    # An answer that never comes: A's timer recalls the case.
    late = forwarded.model_copy(update={"due": NOW - timedelta(seconds=1)})
    recalled = _rest(request, late)
    assert {s.actor for s in recalled.steps[len(forwarded.steps) :]} == {
        Actor(kind="system", region="350000")
    }


def test_an_update_without_an_actor_is_a_persons_step_whose_person_is_unknown() -> None:
    """As an Update sent straight to Temporal, or recorded before steps named their person."""
    request = _request()
    waiting = _rest(request, A.start(request))
    after = A.step(request, waiting, A.input_trigger(FormalReview(outcome="pass")), NOW).state
    assert set(_new_steps(waiting, after)) == {Actor(kind="person", region="350000")}


def test_the_officers_steps_on_the_processing_side_record_the_officer() -> None:
    begin = B.ProcessingStart(
        case_no=CASE, processing_region="440000", promised_working_days=20, policy=MANUAL
    )
    forwarded = InboundEvent(
        event_id="forwarded-1",
        type=EventType.FORWARDED,
        sender_region="350000",
        time=NOW,
        data={"case_no": CASE, "materials": []},
    )
    state = B.start(begin)
    state = B.receive(state, forwarded)
    trigger = B.next_trigger(begin, state, NOW)
    assert trigger is not None
    state = B.step(begin, state, trigger, NOW).state
    assert state.steps[-1].actor == Actor(kind="region", region="350000")
    decision = AcceptanceDecision(accept=True, actor=OFFICER)
    accepted = B.step(begin, state, B.input_trigger(decision), NOW).state
    assert {s.actor for s in accepted.steps[len(state.steps) :]} == {OFFICER}


def test_the_actor_survives_continue_as_new() -> None:
    """The carry is the state, through the same JSON the data converter writes."""
    request, _, after = _reviewed_by_the_clerk()
    carried = A.IntakeRequest.model_validate_json(
        request.model_copy(update={"carry": after}).model_dump_json()
    )
    assert carried.carry is not None
    assert A.start(carried).steps == after.steps
    assert CLERK in {s.actor for s in A.start(carried).steps}


def test_who_confirmed_delivery_stays_in_the_region_the_event_says_only_how() -> None:
    request = _request()
    state = _rest(request, A.start(request)).model_copy(
        update={"phase": A.Phase.RESULT_RECEIVED, "status": "result-received"}
    )
    confirmation = DeliveryConfirmation(channel="mail", tracking_no="SF123", actor=CLERK)
    result = A.step(request, state, A.input_trigger(confirmation), NOW)
    (sent,) = [w for w in result.writes if isinstance(w, SendEvent)]
    assert "actor" not in sent.data
    assert sent.data["channel"] == "mail"
    assert result.state.steps[-1].actor == CLERK


def test_operators_timeline_names_the_person_on_their_step() -> None:
    _, _, after = _reviewed_by_the_clerk()
    a = RegionRecords(
        region="350000",
        role="origin",
        workflow_id=f"intake-{CASE}",
        progress=CaseProgress(
            case_no=CASE, region="350000", status=after.status, closed=False, steps=after.steps
        ),
    )
    timeline = stitch(CASE, a, None)
    review = next(e for e in timeline.entries if e.status == "formal-review-passed")
    assert review.actor is not None
    assert (review.actor.kind, review.actor.person_id, review.actor.name) == (
        "person",
        "FZ1001",
        "王芳",
    )
    assert review.actor.window_id == "fz-01"
    console = Console(width=200, record=True)
    render(timeline, console)
    text = console.export_text()
    assert "经办人" in text
    assert "王芳（工号 FZ1001，fz-01）" in text
    page = swimlane_html(timeline)
    assert "王芳（工号 FZ1001，fz-01）" in page
    assert "<th>经办人</th>" in page
    assert '"person_id":"FZ1001"' in timeline.model_dump_json()
