"""Stitching two regions' records into one timeline: order, actors, compensation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from operators.model import EffectRecord, EnvelopeRecord, RegionRecords, UpdateCall
from operators.stitch import stitch
from workflows.models import CaseProgress, CaseStep

CASE = "350000-20261127-ABCDEFGH"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step(
    t: float, region: str, status: str, detail: str = "", event: str | None = None
) -> CaseStep:
    return CaseStep(at=at(t), region=region, status=status, detail=detail, event_id=event)


def envelope(t: float, region: str, direction: str, event: str, kind: str) -> EnvelopeRecord:
    sender, recipient = ("350000", "440000") if kind == "forwarded" else ("440000", "350000")
    return EnvelopeRecord(
        region=region,
        seq=int(t * 10),
        direction=direction,
        event_id=event,
        event_type=f"cn.tongban.case.{kind}",
        sender=sender,
        recipient=recipient,
        at=at(t),
        logged_at=at(t),
        signature="valid",
    )


def records() -> tuple[RegionRecords, RegionRecords]:
    a_steps = (
        step(0, "350000", "received"),
        step(1, "350000", "formal-review"),
        step(2, "350000", "formal-review-passed", "checked"),
        step(3, "350000", "forwarded", "to 440000", "ev-fwd"),
        step(8, "350000", "result-received", "denied", "ev-dec"),
        step(9, "350000", "compensating", "denied"),
        step(10, "350000", "compensating", "refund-fee: denied"),
        step(11, "350000", "closed-rejected"),
    )
    a = RegionRecords(
        region="350000",
        role="origin",
        workflow_id=f"intake-{CASE}",
        progress=CaseProgress(
            case_no=CASE, region="350000", status="closed-rejected", closed=True, steps=a_steps
        ),
        updates=(UpdateCall(name="record_formal_review", at=at(1.5), identity="window-7"),),
        envelopes=(
            envelope(3.1, "350000", "sent", "ev-fwd", "forwarded"),
            envelope(7.9, "350000", "accepted", "ev-dec", "decided"),
        ),
        effects=(
            EffectRecord(
                region="350000",
                key="refund-fee",
                effect="refund-fee",
                amount_fen=500,
                detail="denied",
                done_at=at(10),
            ),
        ),
    )
    b = RegionRecords(
        region="440000",
        role="processing",
        workflow_id=f"processing-{CASE}",
        progress=CaseProgress(
            case_no=CASE,
            region="440000",
            status="closed",
            closed=True,
            steps=(
                step(4, "440000", "received", "from 350000", "ev-fwd"),
                step(5, "440000", "denied", "no"),
            ),
        ),
        envelopes=(
            envelope(3.5, "440000", "accepted", "ev-fwd", "forwarded"),
            envelope(6, "440000", "sent", "ev-dec", "decided"),
        ),
    )
    return a, b


def test_entries_of_both_regions_are_in_time_order() -> None:
    timeline = stitch(CASE, *records())
    times = [e.at for e in timeline.entries]
    assert times == sorted(times)
    assert [(e.lane, e.kind) for e in timeline.entries][3:7] == [
        ("A", "step"),
        ("A", "sent"),
        ("B", "accepted"),
        ("B", "step"),
    ]
    assert timeline.status == {"A": "closed-rejected", "B": "closed"}
    assert timeline.closed


def test_actors_person_policy_and_region() -> None:
    by_status = {(e.lane, e.status): e.actor for e in stitch(CASE, *records()).entries}
    review = by_status[("A", "formal-review-passed")]
    assert review is not None
    assert (review.kind, review.update, review.identity) == (
        "person",
        "record_formal_review",
        "window-7",
    )
    assert review.window_id is None  # until the window API passes one along
    denied, received = by_status[("B", "denied")], by_status[("B", "received")]
    assert denied is not None
    assert denied.kind == "policy"
    assert received is not None
    assert (received.kind, received.region) == ("region", "350000")


def test_compensation_steps_are_marked_with_their_amount() -> None:
    entries = stitch(CASE, *records()).entries
    compensation = [e for e in entries if e.compensation]
    assert [(e.detail, e.amount_fen) for e in compensation] == [("refund-fee: denied", 500)]
