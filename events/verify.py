"""Verification of an incoming record: the one boundary every inbound byte passes.

`verify_record` either returns a verified envelope or raises `Rejected` with a reason; any
other exception a record could provoke (a parser bug, a library's surprise) is turned into a
`malformed` rejection here, so the caller only ever handles `Rejected`. Checks run in the
order that is cheapest to refuse first: size, bounded JSON, schema, directory and key,
signature, canonical form, time, consistency, entitlement.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from events import evidence
from events.envelope import SUPPORTED_ENVELOPE_VERSIONS, Envelope, region_source
from events.evidence_checks import check_evidence
from events.models import (
    BETWEEN_PARTIES,
    ORIGIN_ONLY,
    PAYLOAD_MODELS,
    PROCESSING_ONLY,
    EventType,
    accepting_region_of,
)
from events.rejections import Rejected, RejectReason
from events.signing import signature_valid
from events.trust import TrustDirectory, signing_key
from events.wire_json import JsonLimits, JsonRefused, parse_object

_EVENT_TYPES = frozenset(t.value for t in EventType)
_PAYLOADS: dict[str, type[BaseModel]] = {
    **{t.value: m for t, m in PAYLOAD_MODELS.items()},
    **evidence.payload_models(),
}


@dataclass(frozen=True)
class VerifyLimits:
    max_bytes: int = 1024 * 1024
    max_skew: timedelta = timedelta(minutes=5)
    # Old enough to cover a long outage of the receiver plus resends, short enough that a
    # captured event cannot be replayed months later.
    max_age: timedelta = timedelta(days=7)
    json: JsonLimits = field(default_factory=JsonLimits)


def _sender_hint(document: dict[str, Any]) -> str | None:
    """The claimed sender, for per-sender metrics of refusals; unverified, never trusted."""
    sender = document.get("senderregion")
    return sender if isinstance(sender, str) and len(sender) == 6 and sender.isdigit() else None


def parse_envelope(raw: bytes, limits: VerifyLimits) -> Envelope:
    if len(raw) > limits.max_bytes:
        raise Rejected(RejectReason.OVERSIZE, f"{len(raw)} bytes > {limits.max_bytes}")
    if not raw:
        raise Rejected(RejectReason.MALFORMED, "empty record")
    try:
        document = parse_object(raw, limits.json)
    except JsonRefused as exc:
        raise Rejected(RejectReason.MALFORMED, str(exc)) from exc
    sender = _sender_hint(document)
    version = document.get("tbversion")
    if type(version) is not int or version not in SUPPORTED_ENVELOPE_VERSIONS:
        raise Rejected(
            RejectReason.UNSUPPORTED_VERSION, "tbversion is not a supported version", sender
        )
    event_type = document.get("type")
    if isinstance(event_type, str) and event_type not in _EVENT_TYPES:
        # Said apart from other schema errors: a peer on a newer release sends these.
        raise Rejected(RejectReason.UNKNOWN_TYPE, "type is not a known event type", sender)
    try:
        envelope = Envelope.model_validate(document)
        # Strict, as JSON: "10" is not an int and true is not a number of days. The payload
        # stays as sent (it is signed), so it must already have the schema's exact types.
        _PAYLOADS[envelope.type].model_validate_json(json.dumps(envelope.data), strict=True)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise Rejected(RejectReason.MALFORMED, f"schema: {fields}", sender) from exc
    return envelope


def _check_consistent(envelope: Envelope) -> None:
    """Fields the envelope states twice must agree, or a signed event could mean two things."""
    sender = envelope.senderregion
    if envelope.source != region_source(sender):
        raise Rejected(RejectReason.INCONSISTENT, "source does not name the sender", sender)
    if envelope.data.get("case_no") != envelope.subject:
        raise Rejected(RejectReason.INCONSISTENT, "data.case_no is not the subject", sender)
    if "origin_region" in envelope.data and envelope.data["origin_region"] != sender:
        raise Rejected(RejectReason.INCONSISTENT, "data.origin_region is not the sender", sender)


def _check_entitled(envelope: Envelope) -> None:
    origin = accepting_region_of(envelope.subject)
    sender = envelope.senderregion
    if envelope.type in ORIGIN_ONLY and sender != origin:
        raise Rejected(
            RejectReason.SENDER_NOT_ENTITLED,
            f"only the accepting region {origin} may send {envelope.type.value}",
            sender,
        )
    if envelope.type in PROCESSING_ONLY and (
        sender == origin or envelope.recipientregion != origin
    ):
        raise Rejected(
            RejectReason.SENDER_NOT_ENTITLED,
            f"only the processing region may send {envelope.type.value} to {origin}",
            sender,
        )
    if envelope.type in BETWEEN_PARTIES and origin not in (sender, envelope.recipientregion):
        raise Rejected(
            RejectReason.SENDER_NOT_ENTITLED,
            f"{envelope.type.value} goes between the accepting region {origin} and the"
            " processing region only",
            sender,
        )
    if envelope.type is EventType.FORWARDED:
        target = envelope.data.get("processing_region")
        if target != envelope.recipientregion:
            raise Rejected(
                RejectReason.SENDER_NOT_ENTITLED,
                "forwarded to a region that is not the processing region",
                sender,
            )


def _check_record(
    raw: bytes, recipient: str, directory: TrustDirectory, now: datetime, limits: VerifyLimits
) -> Envelope:
    envelope = parse_envelope(raw, limits)
    sender = envelope.senderregion
    if envelope.recipientregion != recipient:
        raise Rejected(
            RejectReason.WRONG_RECIPIENT,
            f"addressed to {envelope.recipientregion}, this node is {recipient}",
            sender,
        )
    # Valid when it claims to be signed, and still valid now: a key rotated out is refused
    # for records received after its not_after, whatever time the envelope states.
    try:
        public_key = signing_key(directory, sender, envelope.keyid, envelope.time)
        signing_key(directory, sender, envelope.keyid, now)
    except Rejected as refused:
        # The directory's refusal, labelled with the claimed sender for per-sender metrics.
        raise Rejected(refused.reason, refused.detail, sender) from refused
    if not signature_valid(envelope, public_key):
        raise Rejected(
            RejectReason.BAD_SIGNATURE, f"signature by {envelope.keyid} does not verify", sender
        )
    # Senders put the canonical bytes on the wire. Any other spelling of the same signed
    # content (key order, escapes, time zone notation) is refused, so one event id always
    # has one byte string: receipts' digests and the duplicate check depend on it.
    if raw != envelope.to_wire():
        raise Rejected(RejectReason.MALFORMED, "record is not in RFC 8785 canonical form", sender)
    if envelope.time > now + limits.max_skew:
        raise Rejected(
            RejectReason.CLOCK_SKEW,
            f"event time {envelope.time.isoformat()} is in the future",
            sender,
        )
    if envelope.time < now - limits.max_age:
        raise Rejected(
            RejectReason.TOO_OLD, f"event time {envelope.time.isoformat()} is too old", sender
        )
    _check_consistent(envelope)
    _check_entitled(envelope)
    check_evidence(envelope, directory)
    return envelope


def verify_record(
    raw: bytes,
    *,
    recipient: str,
    directory: TrustDirectory | Callable[[], TrustDirectory],
    now: datetime,
    limits: VerifyLimits,
) -> Envelope:
    """A verified envelope, or `Rejected`. Nothing else escapes, whatever `raw` holds."""
    try:
        in_force = directory() if callable(directory) else directory
        return _check_record(raw, recipient, in_force, now, limits)
    except Rejected:
        raise
    # The boundary: a record must never stop the node, so even an exception nobody foresaw
    # (RecursionError, a library's TypeError on odd input) becomes a typed refusal.
    except Exception as exc:
        raise Rejected(
            RejectReason.MALFORMED, f"unexpected {type(exc).__name__} while verifying"
        ) from exc


def verifier_for(
    recipient: str, directory: Callable[[], TrustDirectory], limits: VerifyLimits
) -> Callable[[bytes], Envelope]:
    """Verification as a node does it: against the directory in force and the clock now."""

    def verify(raw: bytes) -> Envelope:
        return verify_record(
            raw, recipient=recipient, directory=directory, now=datetime.now(UTC), limits=limits
        )

    return verify
