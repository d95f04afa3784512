"""Verification of an incoming record, in the order that is cheapest to refuse first."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from events.envelope import SUPPORTED_ENVELOPE_VERSIONS, Envelope
from events.models import (
    ORIGIN_ONLY,
    PAYLOAD_MODELS,
    PROCESSING_ONLY,
    EventType,
    accepting_region_of,
)
from events.rejections import Rejected, RejectReason
from events.signing import signature_valid
from events.trust import TrustDirectory, signing_key


@dataclass(frozen=True)
class VerifyLimits:
    max_bytes: int = 1024 * 1024
    max_skew: timedelta = timedelta(minutes=5)
    # Old enough to cover a long outage of the receiver plus resends, short enough that a
    # captured event cannot be replayed months later.
    max_age: timedelta = timedelta(days=7)


def parse_envelope(raw: bytes, limits: VerifyLimits) -> Envelope:
    if len(raw) > limits.max_bytes:
        raise Rejected(RejectReason.OVERSIZE, f"{len(raw)} bytes > {limits.max_bytes}")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(
            RejectReason.MALFORMED, f"not JSON: {exc.msg if hasattr(exc, 'msg') else exc}"
        ) from exc
    if not isinstance(document, dict):
        raise Rejected(RejectReason.MALFORMED, "envelope is not a JSON object")
    version = document.get("tbversion")
    if version not in SUPPORTED_ENVELOPE_VERSIONS:
        raise Rejected(RejectReason.UNSUPPORTED_VERSION, f"tbversion {version!r} is not supported")
    try:
        envelope = Envelope.model_validate(document)
        payload_model = PAYLOAD_MODELS.get(envelope.type)
        if payload_model is not None:
            payload_model.model_validate(envelope.data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise Rejected(RejectReason.MALFORMED, f"schema: {fields}") from exc
    return envelope


def _check_entitled(envelope: Envelope) -> None:
    origin = accepting_region_of(envelope.subject)
    sender = envelope.senderregion
    if envelope.type in ORIGIN_ONLY and sender != origin:
        raise Rejected(
            RejectReason.SENDER_NOT_ENTITLED,
            f"only the accepting region {origin} may send {envelope.type.value}",
        )
    if envelope.type in PROCESSING_ONLY and (
        sender == origin or envelope.recipientregion != origin
    ):
        raise Rejected(
            RejectReason.SENDER_NOT_ENTITLED,
            f"only the processing region may send {envelope.type.value} to {origin}",
        )
    if envelope.type is EventType.FORWARDED:
        target = envelope.data.get("processing_region")
        if target != envelope.recipientregion:
            raise Rejected(
                RejectReason.SENDER_NOT_ENTITLED,
                "forwarded to a region that is not the processing region",
            )


def verify_record(
    raw: bytes,
    *,
    recipient: str,
    directory: TrustDirectory,
    now: datetime,
    limits: VerifyLimits,
) -> Envelope:
    envelope = parse_envelope(raw, limits)
    if envelope.recipientregion != recipient:
        raise Rejected(
            RejectReason.WRONG_RECIPIENT,
            f"addressed to {envelope.recipientregion}, this node is {recipient}",
        )
    public_key = signing_key(directory, envelope.senderregion, envelope.keyid, envelope.time)
    if not signature_valid(envelope, public_key):
        raise Rejected(RejectReason.BAD_SIGNATURE, f"signature by {envelope.keyid} does not verify")
    if envelope.time > now + limits.max_skew:
        raise Rejected(
            RejectReason.CLOCK_SKEW, f"event time {envelope.time.isoformat()} is in the future"
        )
    if envelope.time < now - limits.max_age:
        raise Rejected(RejectReason.TOO_OLD, f"event time {envelope.time.isoformat()} is too old")
    _check_entitled(envelope)
    return envelope


def verifier_for(
    recipient: str, directory: Callable[[], TrustDirectory], limits: VerifyLimits
) -> Callable[[bytes], Envelope]:
    """Verification as a node does it: against the directory in force and the clock now."""

    def verify(raw: bytes) -> Envelope:
        return verify_record(
            raw, recipient=recipient, directory=directory(), now=datetime.now(UTC), limits=limits
        )

    return verify
