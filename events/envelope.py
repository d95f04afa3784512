"""The signed envelope: CloudEvents 1.0 in structured mode plus tongban extensions.

The whole envelope travels as JSON in the Kafka record value. The signature covers the RFC 8785
canonical bytes of every attribute except the signature itself; record headers (tracing) are
never signed, so middleware may add them freely.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any, Literal

import rfc8785
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events.models import CaseNo, EventType, RegionCode

ENVELOPE_VERSION = 1
SUPPORTED_ENVELOPE_VERSIONS = frozenset({ENVELOPE_VERSION})

# Event ids are derived, not random: an activity retried after a crash builds the same id,
# so the outbox row (unique on id) is written once and the receiver deduplicates on it.
_EVENT_ID_NAMESPACE = uuid.UUID("6f1d3c52-7a0e-4e57-9a53-5b1f0c1de0a1")


def event_id_for(case_no: str, step: str, sender: str) -> str:
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{case_no}/{step}/{sender}"))


def region_source(region: str) -> str:
    return f"urn:tongban:region:{region}"


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=64)
    source: str
    type: EventType
    time: AwareDatetime  # a time without a zone means nothing across regions
    subject: CaseNo
    datacontenttype: Literal["application/json"] = "application/json"
    # Extensions (CloudEvents names: lowercase letters and digits only).
    tbversion: int
    senderregion: RegionCode
    recipientregion: RegionCode
    keyid: str = Field(min_length=1, max_length=128)
    data: dict[str, Any]
    signature: str | None = None  # base64url Ed25519 over signing_bytes()

    def signing_bytes(self) -> bytes:
        body = self.model_dump(mode="json", exclude={"signature"})
        return rfc8785.dumps(body)

    def to_wire(self) -> bytes:
        """Record value bytes. Canonical too, so the digest of what was sent is stable."""
        return rfc8785.dumps(self.model_dump(mode="json"))

    def signature_bytes(self) -> bytes:
        if self.signature is None:
            raise ValueError("envelope is not signed")
        return b64url_decode(self.signature)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_decode(text: str) -> bytes:
    """Strict: the URL-safe alphabet only, no padding, and the one canonical spelling (unused
    low bits zero). The lenient decoder skips foreign characters and ignores those bits, so a
    signature could be respelled into other record bytes that still verify."""
    if not _B64URL.match(text):
        raise ValueError("not unpadded base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(raw) != text:
        raise ValueError("not the canonical base64url spelling")
    return raw
