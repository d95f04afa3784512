"""Receipts, the resend schedule and crash points: the pure parts."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from events.crash import CrashPoints
from events.credentials import RegionCredentials
from events.models import EventReceipt, EventType
from events.outbox import signed_envelope
from events.receipts import needs_receipt, receipt_for, receipt_id
from events.resend_policy import ResendPolicy
from events.verify import VerifyLimits, verify_record
from tests.unit.conftest import NOW

CASE = "350000-20261127-ABCDEFGH"


def test_a_receipt_carries_the_digest_of_the_exact_bytes_and_goes_back_to_the_sender(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    forwarded = signed_envelope(
        fujian.signer(NOW),
        event_type=EventType.WITHDRAWN,
        case_no=CASE,
        step="withdrawn",
        recipient="440000",
        data={"case_no": CASE, "reason": "申请人撤回"},
        now=NOW,
    )
    raw = forwarded.to_wire()
    receipt = receipt_for(guangdong.signer(NOW), forwarded, raw, NOW)

    payload = EventReceipt.model_validate(receipt.data)
    assert payload.receipted_event_id == forwarded.id
    assert payload.receipted_digest == hashlib.sha256(raw).hexdigest()
    assert (receipt.type, receipt.senderregion, receipt.recipientregion) == (
        EventType.RECEIPT,
        "440000",
        "350000",
    )
    # Rebuilt after a crash, the receipt keeps its id, so the sender deduplicates it.
    assert receipt.id == receipt_id(forwarded, "440000")
    assert receipt_for(guangdong.signer(NOW), forwarded, raw, NOW).id == receipt.id
    verified = verify_record(
        receipt.to_wire(),
        recipient="350000",
        directory=fujian.directory(),
        now=NOW,
        limits=VerifyLimits(),
    )
    assert verified.id == receipt.id


def test_only_receipts_go_unreceipted() -> None:
    assert [t for t in EventType if not needs_receipt(t)] == [EventType.RECEIPT]


def test_resend_waits_back_off_up_to_a_cap() -> None:
    policy = ResendPolicy(
        receipt_timeout=timedelta(seconds=30), backoff=2.0, max_wait=timedelta(minutes=5)
    )
    waits = [policy.wait_after(n).total_seconds() for n in range(1, 7)]
    assert waits == [30, 60, 120, 240, 300, 300]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"backoff": 0.5}, {"receipt_timeout": timedelta(0)}],
)
def test_a_policy_that_could_never_deliver_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ResendPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_misspelt_crash_point_is_refused_rather_than_never_firing() -> None:
    with pytest.raises(ValueError, match="unknown crash point"):
        CrashPoints("relay.after-publsh")


def test_an_armed_point_ignores_the_other_points() -> None:
    points = CrashPoints("relay.after-publish")
    points.hit("relay.before-publish")  # returns: only the armed point exits the process
    CrashPoints().hit("relay.after-publish")
