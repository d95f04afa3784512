"""Each way an incoming record can be refused, with its own typed reason."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta

import pytest

from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.models import EventType
from events.outbox import signed_envelope
from events.rejections import Rejected, RejectReason
from events.verify import VerifyLimits, verify_record
from tests.unit.conftest import NOW

CASE = "350000-20261127-ABCDEFGH"
DEFAULT_LIMITS = VerifyLimits()
DECIDED = {"case_no": CASE, "outcome": "approved", "reason": "ok", "decision_digest": None}


def _send(
    creds: RegionCredentials, event_type: EventType, recipient: str, data: Mapping[str, object]
) -> Envelope:
    return signed_envelope(
        creds.signer(NOW),
        event_type=event_type,
        case_no=CASE,
        step=event_type.value,
        recipient=recipient,
        data=dict(data),
        now=NOW,
    )


def _verify(
    raw: bytes, recipient: str, creds: RegionCredentials, limits: VerifyLimits = DEFAULT_LIMITS
) -> Envelope:
    return verify_record(
        raw, recipient=recipient, directory=creds.directory(), now=NOW, limits=limits
    )


def _reason(
    raw: bytes, recipient: str, creds: RegionCredentials, limits: VerifyLimits = DEFAULT_LIMITS
) -> RejectReason:
    with pytest.raises(Rejected) as caught:
        _verify(raw, recipient, creds, limits)
    return caught.value.reason


def test_a_good_decision_from_the_processing_region_verifies(guangdong: RegionCredentials) -> None:
    envelope = _send(guangdong, EventType.DECIDED, "350000", DECIDED)
    assert _verify(envelope.to_wire(), "350000", guangdong).id == envelope.id


def test_malformed_json(fujian: RegionCredentials) -> None:
    assert _reason(b"{not json", "440000", fujian) is RejectReason.MALFORMED
    assert _reason(b"[1, 2]", "440000", fujian) is RejectReason.MALFORMED


def test_schema_violation_in_payload(guangdong: RegionCredentials) -> None:
    envelope = _send(guangdong, EventType.DECIDED, "350000", {**DECIDED, "outcome": "maybe"})
    assert _reason(envelope.to_wire(), "350000", guangdong) is RejectReason.MALFORMED


def test_unknown_envelope_attribute(guangdong: RegionCredentials) -> None:
    doc = json.loads(_send(guangdong, EventType.DECIDED, "350000", DECIDED).to_wire())
    doc["surprise"] = 1
    assert _reason(json.dumps(doc).encode(), "350000", guangdong) is RejectReason.MALFORMED


def test_unsupported_version(guangdong: RegionCredentials) -> None:
    doc = json.loads(_send(guangdong, EventType.DECIDED, "350000", DECIDED).to_wire())
    doc["tbversion"] = 2
    assert (
        _reason(json.dumps(doc).encode(), "350000", guangdong) is RejectReason.UNSUPPORTED_VERSION
    )


def test_oversize(guangdong: RegionCredentials) -> None:
    raw = _send(guangdong, EventType.DECIDED, "350000", DECIDED).to_wire()
    limits = VerifyLimits(max_bytes=len(raw) - 1)
    assert _reason(raw, "350000", guangdong, limits) is RejectReason.OVERSIZE


def test_wrong_recipient(guangdong: RegionCredentials) -> None:
    raw = _send(guangdong, EventType.DECIDED, "350000", DECIDED).to_wire()
    assert _reason(raw, "110000", guangdong) is RejectReason.WRONG_RECIPIENT


def test_bad_signature(guangdong: RegionCredentials) -> None:
    envelope = _send(guangdong, EventType.DECIDED, "350000", DECIDED)
    forged = envelope.model_copy(update={"data": {**DECIDED, "outcome": "denied"}})
    assert _reason(forged.to_wire(), "350000", guangdong) is RejectReason.BAD_SIGNATURE


def test_unknown_key_and_unknown_region(guangdong: RegionCredentials) -> None:
    envelope = _send(guangdong, EventType.DECIDED, "350000", DECIDED)
    other_key = envelope.model_copy(update={"keyid": "440000-sig-unknown"})
    assert _reason(other_key.to_wire(), "350000", guangdong) is RejectReason.UNKNOWN_KEY
    other_region = envelope.model_copy(update={"senderregion": "650000"})
    assert _reason(other_region.to_wire(), "350000", guangdong) is RejectReason.UNKNOWN_REGION
    # The directory's refusals name the claimed sender, so a flood shows per sender.
    with pytest.raises(Rejected) as caught:
        _verify(other_key.to_wire(), "350000", guangdong)
    assert caught.value.sender == "440000"


def test_a_key_used_after_its_not_after_is_expired(guangdong: RegionCredentials) -> None:
    later = NOW + timedelta(days=40)  # the fixture's keys are valid for 30 days
    envelope = _send(guangdong, EventType.DECIDED, "350000", DECIDED)
    late = guangdong.signer(NOW).sign(
        envelope.model_copy(update={"time": later, "signature": None})
    )
    with pytest.raises(Rejected) as caught:
        verify_record(
            late.to_wire(),
            recipient="350000",
            directory=guangdong.directory(),
            now=later,
            limits=VerifyLimits(),
        )
    assert caught.value.reason is RejectReason.KEY_EXPIRED


def test_time_outside_skew_and_age(guangdong: RegionCredentials) -> None:
    raw = _send(guangdong, EventType.DECIDED, "350000", DECIDED).to_wire()
    directory = guangdong.directory()
    for now, reason in (
        (NOW - timedelta(minutes=10), RejectReason.CLOCK_SKEW),
        (NOW + timedelta(days=8), RejectReason.TOO_OLD),
    ):
        with pytest.raises(Rejected) as caught:
            verify_record(
                raw, recipient="350000", directory=directory, now=now, limits=VerifyLimits()
            )
        assert caught.value.reason is reason


def test_only_the_processing_region_may_decide(fujian: RegionCredentials) -> None:
    # The accepting region deciding its own case, sent to the processing region.
    raw = _send(fujian, EventType.DECIDED, "440000", DECIDED).to_wire()
    assert _reason(raw, "440000", fujian) is RejectReason.SENDER_NOT_ENTITLED


def test_only_the_accepting_region_may_withdraw(beijing: RegionCredentials) -> None:
    raw = _send(beijing, EventType.WITHDRAWN, "440000", {"case_no": CASE, "reason": "x"}).to_wire()
    assert _reason(raw, "440000", beijing) is RejectReason.SENDER_NOT_ENTITLED


def test_a_revoked_key_is_refused(guangdong: RegionCredentials) -> None:
    raw = _send(guangdong, EventType.DECIDED, "350000", DECIDED).to_wire()
    directory = guangdong.directory()
    entry = directory.region("440000")
    assert entry is not None
    revoked = entry.model_copy(
        update={
            "signing_keys": tuple(
                k.model_copy(update={"revoked": True}) for k in entry.signing_keys
            )
        }
    )
    regions = tuple(revoked if r.code == "440000" else r for r in directory.regions)
    with pytest.raises(Rejected) as caught:
        verify_record(
            raw,
            recipient="350000",
            directory=directory.model_copy(update={"regions": regions}),
            now=NOW,
            limits=DEFAULT_LIMITS,
        )
    assert caught.value.reason is RejectReason.KEY_REVOKED
