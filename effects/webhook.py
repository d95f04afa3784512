"""The reference adapter: a signed JSON webhook to one of the region's systems.

Each effect is one POST of a JSON body (`webhook_body`) to the target's URL with

    Idempotency-Key: <the request's idempotency key>
    Tongban-Region: <the signing region's code>
    Tongban-Signature: t=<unix seconds>,keyid=<key id>,ed25519=<base64url signature>

where the Ed25519 signature is over the ASCII timestamp, a dot and the exact body bytes, made
with the region's signing key. The public half is in the signed trust directory under the
region and key id, so a system verifies with what the directory publishes
(`verify_webhook`, docs/effects-webhooks.md).

The answer is read by `parse_answer`: 200/201 `{"status":"done"}` is done, 202
`{"status":"pending"}` is pending (the system calls back later, effects/callbacks.py), a 4xx
other than 408/429 is refused (with the system's reason when it gives one), and everything
else — 408, 429, 5xx, a redirect, a timeout, a broken connection, a 2xx not understood — is
`AdapterUnavailable`. One call is one HTTP attempt: retries with backoff, and the dead letter
after the target's `max_attempts`, belong to the caller (the effect activity's retry policy).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from effects.adapters import AdapterUnavailable, Answer, EffectRequest
from effects.headers import header_values
from effects.settings import WebhookTarget
from events.envelope import b64url, b64url_decode
from events.keystore import KeyStoreError
from events.rejections import Rejected
from events.signing import RegionSigner
from events.trust import DirectoryError, TrustDirectory, signing_key

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Tongban-Signature"
REGION_HEADER = "Tongban-Region"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# An answer is a few hundred bytes; reading stops here, so a hostile one cannot exhaust memory.
MAX_ANSWER_BYTES = 64 * 1024
_MAX_HEADER_CHARS = 1024
_MAX_DIGITS = 12  # of a unix timestamp
_MAX_REASON_CHARS = 500
_MAX_REFERENCE_CHARS = 200

SignerFactory = Callable[[datetime], RegionSigner]


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --- what is sent ----------------------------------------------------------------------------


def webhook_body(request: EffectRequest) -> bytes:
    """The exact bytes POSTed for `request`: compact JSON, keys sorted, UTF-8.

    `phone` is opened here, into these bytes only, and only when the request carries one;
    `callback_url` is present only when the node can take a callback.
    """
    body: dict[str, object] = {
        "idempotency_key": request.idempotency_key,
        "region": request.region,
        "case_no": request.case_no,
        "effect": request.effect,
        "key": request.key,
        "series": request.series,
        "amount_fen": request.amount_fen,
        "detail": request.detail,
        "notice": request.notice,
    }
    if request.callback_url:
        body["callback_url"] = request.callback_url
    if request.phone is not None:
        body["phone"] = request.phone.get_secret_value()
    if request.address is not None:
        body["address"] = request.address.get_secret_value()
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _signed_bytes(timestamp: int, body: bytes) -> bytes:
    return str(timestamp).encode("ascii") + b"." + body


def sign_webhook(body: bytes, signer: RegionSigner, now: datetime) -> dict[str, str]:
    """The signature headers for `body` sent at `now` by `signer`'s region."""
    timestamp = int(now.timestamp())
    signature = b64url(signer.private_key.sign(_signed_bytes(timestamp, body)))
    return {
        SIGNATURE_HEADER: f"t={timestamp},keyid={signer.key_id},ed25519={signature}",
        REGION_HEADER: signer.region,
    }


# --- verifying it (receivers, tests) ---------------------------------------------------------


class WebhookProblem(StrEnum):
    MISSING_HEADER = "missing-header"
    MALFORMED_HEADER = "malformed-header"
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"
    STALE_TIMESTAMP = "stale-timestamp"


class WebhookSignatureInvalid(Exception):
    """A webhook request is not authentic or not fresh; `problem` names the failed check."""

    def __init__(self, problem: WebhookProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


class WebhookSignature:
    """The parsed `Tongban-Signature` header."""

    __slots__ = ("key_id", "signature", "timestamp")

    def __init__(self, timestamp: int, key_id: str, signature: bytes) -> None:
        self.timestamp = timestamp
        self.key_id = key_id
        self.signature = signature


def _header(headers: Mapping[str, str], name: str) -> str | None:
    found = header_values(headers, name)
    if not found:
        return None
    if len(found) > 1:
        raise WebhookSignatureInvalid(WebhookProblem.MALFORMED_HEADER, f"{name} given twice")
    return found[0]


def _malformed(detail: str) -> WebhookSignatureInvalid:
    return WebhookSignatureInvalid(WebhookProblem.MALFORMED_HEADER, detail)


def parse_signature_header(headers: Mapping[str, str]) -> WebhookSignature:
    value = _header(headers, SIGNATURE_HEADER)
    if value is None:
        raise WebhookSignatureInvalid(
            WebhookProblem.MISSING_HEADER, f"no {SIGNATURE_HEADER} header"
        )
    if len(value) > _MAX_HEADER_CHARS:
        raise _malformed("signature header too long")
    items: dict[str, str] = {}
    for part in value.split(","):
        name, sep, item = part.strip().partition("=")
        if not sep:
            raise _malformed("an item is not name=value")
        if name in items:
            raise _malformed(f"{name} given more than once")
        items[name] = item
    timestamp, key_id, signature = items.get("t"), items.get("keyid"), items.get("ed25519")
    if timestamp is None or key_id is None or signature is None:
        raise _malformed("t, keyid and ed25519 are all required")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_DIGITS:
        raise _malformed("t is not unix seconds")
    if not key_id or len(key_id) > 128:
        raise _malformed("keyid is empty or too long")
    try:
        raw = b64url_decode(signature)
    except ValueError:
        raise _malformed("ed25519 is not unpadded base64url") from None
    if len(raw) != 64:
        raise _malformed("ed25519 is not a 64-byte signature")
    return WebhookSignature(int(timestamp), key_id, raw)


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes,
    public_key: Ed25519PublicKey,
    *,
    now: datetime,
    tolerance_s: float = 300,
) -> None:
    """Raise `WebhookSignatureInvalid` unless `body` was signed with `public_key`'s private
    half within `tolerance_s` of `now` (either way). Header names are matched without case."""
    parsed = parse_signature_header(headers)
    try:
        public_key.verify(parsed.signature, _signed_bytes(parsed.timestamp, body))
    except InvalidSignature:
        raise WebhookSignatureInvalid(
            WebhookProblem.BAD_SIGNATURE, f"signature does not verify with key {parsed.key_id}"
        ) from None
    if abs(now.timestamp() - parsed.timestamp) > tolerance_s:
        raise WebhookSignatureInvalid(
            WebhookProblem.STALE_TIMESTAMP, f"timestamp outside ±{tolerance_s:g}s of now"
        )


def webhook_public_key(
    headers: Mapping[str, str], directory: TrustDirectory, *, now: datetime
) -> Ed25519PublicKey:
    """The key to verify a webhook with: the one the trust directory lists for the request's
    `Tongban-Region` and `keyid`, valid at `now` (a receiver also checks that the body's
    `region` is that same region)."""
    region = _header(headers, REGION_HEADER)
    if region is None:
        raise WebhookSignatureInvalid(WebhookProblem.MISSING_HEADER, f"no {REGION_HEADER} header")
    parsed = parse_signature_header(headers)
    try:
        return signing_key(directory, region, parsed.key_id, now)
    except Rejected as exc:
        raise WebhookSignatureInvalid(WebhookProblem.UNKNOWN_KEY, exc.detail[:200]) from None


# --- reading the answer ----------------------------------------------------------------------


def _json_object(body: bytes | None) -> dict[str, object] | None:
    if body is None:
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _printable(text: str, limit: int) -> str:
    return "".join(ch for ch in text[: limit * 2] if ch.isprintable())[:limit].strip()


def _reference(answer: Mapping[str, object]) -> str | None:
    """The system's reference, "" when absent, None when it is not a usable one."""
    value = answer.get("reference", "")
    if not isinstance(value, str) or len(value) > _MAX_REFERENCE_CHARS:
        return None
    return _printable(value, _MAX_REFERENCE_CHARS)


def parse_answer(status_code: int, body: bytes | None) -> Answer:
    """The system's answer, or `AdapterUnavailable` when it must be asked again.

    `body` is None when it could not be read whole (over `MAX_ANSWER_BYTES`, or compressed).
    """
    answer = _json_object(body)
    status = answer.get("status") if answer is not None else None
    if status_code in (200, 201) and status == "done" and answer is not None:
        reference = _reference(answer)
        if reference is not None:
            return Answer(outcome="done", reference=reference)
    if status_code == 202 and status == "pending" and answer is not None:
        reference = _reference(answer)
        if reference is not None:
            return Answer(outcome="pending", reference=reference)
    if 200 <= status_code < 300:
        raise AdapterUnavailable(f"HTTP {status_code} answer not understood")
    if 400 <= status_code < 500 and status_code not in (408, 429):
        reason = ""
        if answer is not None and status == "refused":
            given = answer.get("reason")
            if isinstance(given, str):
                reason = _printable(given, _MAX_REASON_CHARS)
        return Answer(outcome="refused", reason=reason or f"HTTP {status_code}")
    if 300 <= status_code < 400:
        raise AdapterUnavailable(f"HTTP {status_code} (redirects are not followed)")
    raise AdapterUnavailable(f"HTTP {status_code}")


# --- the adapter -----------------------------------------------------------------------------


class WebhookAdapter:
    """Carries out effects by signed webhook to `target.url` (one HTTP attempt per call)."""

    def __init__(
        self,
        name: str,
        target: WebhookTarget,
        signer: SignerFactory,
        *,
        clock: Callable[[], datetime] = _utc_now,
        transport: httpx.AsyncBaseTransport | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self._name = name
        self._target = target
        self._signer = signer
        self._clock = clock
        self._max_answer_bytes = max_answer_bytes
        # No proxies from the environment (settings are read at the edge), no redirects
        # (a moved endpoint is a configuration to fix, not something to follow with a body).
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(target.timeout_s),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def inline(self) -> bool:
        return False  # a call over the network: the effect activity's retries and heartbeat

    @property
    def target(self) -> WebhookTarget:
        return self._target

    async def carry_out(self, request: EffectRequest) -> Answer:
        """POST `request` once and read the answer; `AdapterUnavailable` when the caller should
        try again later (its retry policy backs off). Neither the phone nor the body appear in
        any log line or exception raised here."""
        now = self._clock()
        try:
            signer = self._signer(now)
        except (KeyStoreError, DirectoryError) as exc:
            raise AdapterUnavailable(f"no signing key: {str(exc)[:200]}") from None
        body = webhook_body(request)
        headers = {
            **sign_webhook(body, signer, now),
            IDEMPOTENCY_HEADER: request.idempotency_key,
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
        }
        status_code, answer_body = await self._post(body, headers)
        answer = parse_answer(status_code, answer_body)
        log.info(
            "effect %s of case %s (idempotency key %s) by %s: %s%s",
            request.effect,
            request.case_no,
            request.idempotency_key,
            self._name,
            answer.outcome,
            f" ({answer.reason})" if answer.reason else "",
        )
        return answer

    async def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes | None]:
        timeout_s = self._target.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                return await self._exchange(body, headers)
        except (TimeoutError, httpx.TimeoutException):
            raise AdapterUnavailable(f"no answer within {timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise AdapterUnavailable(f"connection failed ({type(exc).__name__})") from None
        except httpx.InvalidURL:
            raise AdapterUnavailable("the target URL is not valid") from None

    async def _exchange(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes | None]:
        async with self._client.stream(
            "POST", self._target.url, content=body, headers=headers
        ) as response:
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                return response.status_code, None
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > self._max_answer_bytes:
                    return response.status_code, None
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)

    async def aclose(self) -> None:
        await self._client.aclose()
