"""A region's system answering a pending effect later: the callback and how it is authenticated.

The system POSTs a JSON `EffectCallback` to the `callback_url` the webhook gave it, with

    Tongban-Callback-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

where the HMAC is keyed with the secret shared with that system (`callback_secret` of its
webhook target) and taken over the ASCII timestamp, a dot and the exact body bytes. Several
`v1=` values may be given (while the secret is being rotated): one that matches is enough.
The scheme is Stripe's, so integrators find libraries and habits that fit; see
docs/effects-webhooks.md.

`verify_callback` is the node's one boundary for these requests: anything that is not an
authentic, fresh, well-formed callback ends in `CallbackRefused` naming what failed, never in
another exception.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from effects.headers import header_values

SIGNATURE_HEADER = "Tongban-Callback-Signature"
# A callback is a few hundred bytes; anything far larger is not one.
MAX_CALLBACK_BYTES = 16 * 1024
_MAX_HEADER_CHARS = 1024
_MAX_TIMESTAMP_DIGITS = 12


class EffectCallback(BaseModel):
    """The system's final answer to an effect it answered `pending` before."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    idempotency_key: str = Field(min_length=1, max_length=200)
    outcome: Literal["done", "refused"]
    reason: str = Field(default="", max_length=500)  # refused: why, in the system's words
    reference: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _refusal_says_why(self) -> EffectCallback:
        if self.outcome == "refused" and not self.reason.strip():
            raise ValueError("a refused callback must give a reason")
        return self


class CallbackProblem(StrEnum):
    MISSING_HEADER = "missing-header"
    MALFORMED_HEADER = "malformed-header"
    BAD_SIGNATURE = "bad-signature"
    STALE_TIMESTAMP = "stale-timestamp"
    BAD_BODY = "bad-body"


class CallbackRefused(Exception):
    """The callback is not accepted; `problem` says which check failed. The message holds no
    body text (a body may carry anything), only what failed."""

    def __init__(self, problem: CallbackProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


def _signature(secret: bytes, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret, signed, hashlib.sha256).hexdigest()


def sign_callback(body: bytes, secret: bytes, now: datetime) -> dict[str, str]:
    """The headers a system sends with a callback `body` (the exact bytes it POSTs)."""
    timestamp = int(now.timestamp())
    return {
        SIGNATURE_HEADER: f"t={timestamp},v1={_signature(secret, timestamp, body)}",
        "Content-Type": "application/json",
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    found = header_values(headers, name)
    if not found:
        return None
    if len(found) > 1:
        raise CallbackRefused(CallbackProblem.MALFORMED_HEADER, f"{name} given more than once")
    return found[0]


def _parse_signature_header(value: str) -> tuple[int, list[str]]:
    if len(value) > _MAX_HEADER_CHARS:
        raise CallbackRefused(CallbackProblem.MALFORMED_HEADER, "signature header too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        name, sep, item = part.strip().partition("=")
        if not sep:
            raise CallbackRefused(CallbackProblem.MALFORMED_HEADER, "an item is not name=value")
        if name == "t":
            if timestamp is not None:
                raise CallbackRefused(CallbackProblem.MALFORMED_HEADER, "t given more than once")
            if not (item.isascii() and item.isdigit() and len(item) <= _MAX_TIMESTAMP_DIGITS):
                raise CallbackRefused(CallbackProblem.MALFORMED_HEADER, "t is not unix seconds")
            timestamp = int(item)
        elif name == "v1":
            if len(item) != 64 or not all(c in "0123456789abcdef" for c in item):
                raise CallbackRefused(CallbackProblem.MALFORMED_HEADER, "v1 is not hex SHA-256")
            signatures.append(item)
        # Other names are other schemes (a later v2): ignored, as Stripe's verifiers do.
    if timestamp is None:
        raise CallbackRefused(CallbackProblem.MALFORMED_HEADER, "no t= timestamp")
    if not signatures:
        raise CallbackRefused(CallbackProblem.MALFORMED_HEADER, "no v1= signature")
    return timestamp, signatures


def parse_callback(body: bytes) -> EffectCallback:
    """The callback in `body`, or `CallbackRefused(BAD_BODY)`; checks no signature."""
    if len(body) > MAX_CALLBACK_BYTES:
        raise CallbackRefused(CallbackProblem.BAD_BODY, f"body over {MAX_CALLBACK_BYTES} bytes")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise CallbackRefused(CallbackProblem.BAD_BODY, "body is not JSON") from None
    try:
        return EffectCallback.model_validate(value)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()})
        raise CallbackRefused(
            CallbackProblem.BAD_BODY, f"not a callback ({', '.join(fields)[:200]})"
        ) from None


def verify_callback(
    headers: Mapping[str, str],
    body: bytes,
    secret: bytes,
    *,
    now: datetime,
    tolerance_s: float = 300,
) -> EffectCallback:
    """The authentic callback in `body`, or `CallbackRefused` naming what failed.

    Checked in this order: the header is there and well formed, a `v1` signature matches
    (compared in constant time), the timestamp is within `tolerance_s` of `now` either way
    (a replay of an old callback is refused), and the body is a callback.
    """
    value = _header(headers, SIGNATURE_HEADER)
    if value is None:
        raise CallbackRefused(CallbackProblem.MISSING_HEADER, f"no {SIGNATURE_HEADER} header")
    timestamp, signatures = _parse_signature_header(value)
    expected = _signature(secret, timestamp, body)
    # Every candidate is compared, so the time taken does not say which one came close.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise CallbackRefused(CallbackProblem.BAD_SIGNATURE, "no v1 signature matches")
    if abs(now.timestamp() - timestamp) > tolerance_s:
        raise CallbackRefused(
            CallbackProblem.STALE_TIMESTAMP, f"timestamp outside ±{tolerance_s:g}s of now"
        )
    return parse_callback(body)
