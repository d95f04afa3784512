"""The signed webhook adapter against a real receiver on 127.0.0.1 (no mocks of HTTP).

What matters: a system can verify who sent an effect with the key the trust directory
publishes and notices any change; every kind of answer (including hostile ones) ends in done,
pending, refused or AdapterUnavailable; the effect is done once per idempotency key even when
answers are lost; the applicant's phone reaches the system and nothing else.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import FastAPI
from fastapi.responses import Response, StreamingResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from effects.adapters import AdapterUnavailable, Answer, EffectRequest
from effects.build import aclose_adapters, build_adapters
from effects.callbacks import SIGNATURE_HEADER as SIGNATURE_HEADER_CALLBACK
from effects.callbacks import verify_callback
from effects.log_adapter import LogAdapter
from effects.settings import EffectRouting, LogTarget, WebhookTarget
from effects.webhook import (
    WebhookAdapter,
    WebhookProblem,
    WebhookSignatureInvalid,
    parse_answer,
    sign_webhook,
    verify_webhook,
    webhook_body,
    webhook_public_key,
)
from events.credentials import RegionCredentials
from events.envelope import b64url_decode
from events.signing import RegionSigner
from tests.support.effect_receiver import Behaviour, EffectReceiver, ReceiverConfig
from tests.support.http_server import serving
from tests.unit.conftest import NOW

PHONE = "13912345678"
SENT_AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _request(key: str = "350100-2026-000123:refund-fee:1", **changes: Any) -> EffectRequest:
    values: dict[str, Any] = {
        "idempotency_key": key,
        "region": "350000",
        "case_no": "350100-2026-000123",
        "effect": "refund-fee",
        "key": "refund-fee",
        "series": 1,
        "amount_fen": 2000,
        "detail": "not-accepted",
        "notice": "您的申请（350100-2026-000123）未被受理，所缴费用 20.00 元将原路退回。",
    }
    values.update(changes)
    return EffectRequest(**values)


@pytest.fixture
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def signer(private_key: Ed25519PrivateKey) -> RegionSigner:
    return RegionSigner(region="350000", key_id="350000-sig-test", private_key=private_key)


@pytest.fixture
async def receiver(tmp_path: Path, private_key: Ed25519PrivateKey) -> AsyncIterator[EffectReceiver]:
    async with EffectReceiver(tmp_path / "receiver.db", public_key=private_key.public_key()) as r:
        yield r


def _adapter(url: str, signer: RegionSigner, timeout_s: float = 5.0) -> WebhookAdapter:
    return WebhookAdapter("payments", WebhookTarget(url=url, timeout_s=timeout_s), lambda _: signer)


# --- the signature -------------------------------------------------------------------------


def test_a_signed_body_verifies_and_any_change_is_refused(signer: RegionSigner) -> None:
    body = webhook_body(_request())
    headers = sign_webhook(body, signer, SENT_AT)
    public = signer.private_key.public_key()
    verify_webhook(headers, body, public, now=SENT_AT + timedelta(seconds=30))
    # Header names are matched whatever their case (HTTP says they are case-insensitive).
    verify_webhook({k.lower(): v for k, v in headers.items()}, body, public, now=SENT_AT)

    def problem(h: dict[str, str], b: bytes, now: datetime = SENT_AT, key: Any = public) -> Any:
        with pytest.raises(WebhookSignatureInvalid) as refused:
            verify_webhook(h, b, key, now=now)
        return refused.value.problem

    tampered = body.replace(b'"amount_fen":2000', b'"amount_fen":2001')
    assert tampered != body
    assert problem(headers, tampered) is WebhookProblem.BAD_SIGNATURE
    stamp = int(SENT_AT.timestamp())
    later = headers["Tongban-Signature"].replace(f"t={stamp},", f"t={stamp + 1},")
    assert later != headers["Tongban-Signature"]
    assert problem({**headers, "Tongban-Signature": later}, body) is WebhookProblem.BAD_SIGNATURE
    other_key = Ed25519PrivateKey.generate().public_key()
    assert problem(headers, body, key=other_key) is WebhookProblem.BAD_SIGNATURE
    stale = SENT_AT + timedelta(seconds=301)
    assert problem(headers, body, now=stale) is WebhookProblem.STALE_TIMESTAMP
    assert problem(headers, body, now=SENT_AT - timedelta(seconds=301)) is (
        WebhookProblem.STALE_TIMESTAMP
    )
    assert problem({}, body) is WebhookProblem.MISSING_HEADER
    for broken in ("t=1", "t=x,keyid=k,ed25519=AA", "garbage", "t=1,t=2,keyid=k,ed25519=AA"):
        assert problem({"Tongban-Signature": broken}, body) is WebhookProblem.MALFORMED_HEADER


def test_the_key_to_verify_with_is_the_one_the_trust_directory_publishes(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    signer = fujian.signer(NOW)
    body = webhook_body(_request())
    headers = sign_webhook(body, signer, NOW)
    assert headers["Tongban-Region"] == "350000"
    public = webhook_public_key(headers, guangdong.directory(), now=NOW)
    verify_webhook(headers, body, public, now=NOW)

    claimed_other = {**headers, "Tongban-Region": "440000"}
    with pytest.raises(WebhookSignatureInvalid) as unknown:
        webhook_public_key(claimed_other, guangdong.directory(), now=NOW)
    assert unknown.value.problem is WebhookProblem.UNKNOWN_KEY
    after_expiry = NOW + timedelta(days=60)
    with pytest.raises(WebhookSignatureInvalid) as expired:
        webhook_public_key(headers, guangdong.directory(), now=after_expiry)
    assert expired.value.problem is WebhookProblem.UNKNOWN_KEY


def test_the_body_carries_the_phone_and_callback_only_when_there_are_some() -> None:
    bare = json.loads(webhook_body(_request()))
    assert "phone" not in bare
    assert "callback_url" not in bare
    assert bare["amount_fen"] == 2000
    assert bare["idempotency_key"] == "350100-2026-000123:refund-fee:1"
    full = json.loads(
        webhook_body(_request(phone=SecretStr(PHONE), callback_url="http://node/effects/cb"))
    )
    assert full["phone"] == PHONE
    assert full["callback_url"] == "http://node/effects/cb"


# --- answers from a real receiver ----------------------------------------------------------


async def test_done_once_per_idempotency_key_and_a_repeat_gets_the_first_answer(
    receiver: EffectReceiver, signer: RegionSigner
) -> None:
    adapter = _adapter(receiver.url + "/payments", signer)
    request = _request()
    try:
        first = await adapter.carry_out(request)
        again = await adapter.carry_out(request)
    finally:
        await adapter.aclose()
    assert first.outcome == "done"
    assert first.reference.startswith("RCV-")
    assert again == first
    assert receiver.done_count(request.idempotency_key) == 1
    attempts = receiver.records()
    assert [a.verified for a in attempts] == [True, True]
    assert attempts[0].system == "payments"
    assert attempts[0].amount_fen == 2000
    assert [e.key for e in receiver.effects_for(request.case_no)] == ["refund-fee"]


async def test_a_key_reused_for_another_effect_is_refused_by_the_system(
    receiver: EffectReceiver, signer: RegionSigner
) -> None:
    adapter = _adapter(receiver.url + "/payments", signer)
    try:
        await adapter.carry_out(_request())
        reused = await adapter.carry_out(_request(amount_fen=9999))
    finally:
        await adapter.aclose()
    assert reused.outcome == "refused"
    assert receiver.done_count(_request().idempotency_key) == 1


async def test_an_unavailable_system_is_asked_again_and_does_the_effect_once(
    receiver: EffectReceiver, signer: RegionSigner
) -> None:
    receiver.config = ReceiverConfig(default=Behaviour(fail_first=2))
    adapter = _adapter(receiver.url + "/payments", signer)
    request = _request()
    try:
        for _ in range(2):
            with pytest.raises(AdapterUnavailable) as unavailable:
                await adapter.carry_out(request)
            assert unavailable.value.reason == "HTTP 503"
            assert receiver.done_count(request.idempotency_key) == 0
        done = await adapter.carry_out(request)
    finally:
        await adapter.aclose()
    assert done.outcome == "done"
    assert receiver.done_count(request.idempotency_key) == 1
    assert [a.status_code for a in receiver.records()] == [503, 503, 200]


async def test_a_refusal_comes_back_with_the_systems_reason(
    receiver: EffectReceiver, signer: RegionSigner
) -> None:
    receiver.config = ReceiverConfig(effects={"refund-fee": Behaviour(answer="refuse")})
    adapter = _adapter(receiver.url + "/payments", signer)
    try:
        refused = await adapter.carry_out(_request())
        again = await adapter.carry_out(_request())
        other = await adapter.carry_out(_request("k:collect-fee:1", effect="collect-fee"))
    finally:
        await adapter.aclose()
    assert refused == Answer(outcome="refused", reason="收款账户已注销，无法退款")
    assert again == refused
    assert other.outcome == "done"
    assert receiver.done_count(_request().idempotency_key) == 0


async def test_pending_comes_back_with_the_systems_reference(
    receiver: EffectReceiver, signer: RegionSigner
) -> None:
    receiver.config = ReceiverConfig(cases={"350100-2026-000123": Behaviour(answer="pending")})
    adapter = _adapter(receiver.url + "/payments", signer)
    try:
        pending = await adapter.carry_out(_request(callback_url="http://127.0.0.1:9/cb"))
    finally:
        await adapter.aclose()
    assert pending.outcome == "pending"
    assert pending.reference.startswith("RCV-")
    assert receiver.done_count(_request().idempotency_key) == 0


async def test_a_slow_answer_is_unavailable_and_the_retry_finds_the_effect_done(
    receiver: EffectReceiver, signer: RegionSigner
) -> None:
    receiver.config = ReceiverConfig(default=Behaviour(slow_s=3.0, slow_attempts=1))
    adapter = _adapter(receiver.url + "/payments", signer, timeout_s=0.3)
    request = _request()
    try:
        with pytest.raises(AdapterUnavailable) as late:
            await adapter.carry_out(request)
        assert late.value.reason == "no answer within 0.3s"
        retried = await adapter.carry_out(request)
    finally:
        await adapter.aclose()
    assert retried.outcome == "done"
    assert receiver.done_count(request.idempotency_key) == 1


async def test_a_request_signed_with_another_key_is_refused_and_not_done(
    receiver: EffectReceiver,
) -> None:
    stranger = RegionSigner("350000", "350000-sig-test", Ed25519PrivateKey.generate())
    adapter = _adapter(receiver.url + "/payments", stranger)
    try:
        answer = await adapter.carry_out(_request())
    finally:
        await adapter.aclose()
    assert answer.outcome == "refused"
    assert "bad-signature" in answer.reason
    assert receiver.done_count(_request().idempotency_key) == 0
    assert [a.verified for a in receiver.records()] == [False]


async def test_nobody_listening_is_unavailable(signer: RegionSigner) -> None:
    async with serving(FastAPI()) as url:
        closed = url  # the port is free again once the server has stopped
    adapter = _adapter(closed + "/payments", signer)
    try:
        with pytest.raises(AdapterUnavailable) as unavailable:
            await adapter.carry_out(_request())
    finally:
        await adapter.aclose()
    assert unavailable.value.reason.startswith("connection failed")


# --- hostile and odd answers -------------------------------------------------------------


def _endless() -> Iterator[bytes]:
    while True:
        yield b'{"status":"done","reference":"' + b"x" * 65536


_ANSWERS: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "done": (200, b'{"status":"done","reference":"P-1"}', {}),
    "created": (201, b'{"status":"done"}', {}),
    "pending": (202, b'{"status":"pending","reference":"P-2"}', {}),
    "conflict": (409, b'{"status":"refused","reason":"\xe9\x87\x8d\xe5\xa4\x8d\\u0007"}', {}),
    "unprocessable-plain": (422, b"no", {}),
    "teapot": (418, b"", {}),
    "refused-wrong-type": (409, b'{"status":"refused","reason":["x"]}', {}),
    "invalid-utf8": (400, b'{"status":"refused","reason":"\xff\xfe"}', {}),
    "request-timeout": (408, b'{"status":"refused","reason":"x"}', {}),
    "too-many": (429, b"", {}),
    "server-error": (500, b"boom " * 100, {}),
    "bad-gateway": (502, b"", {}),
    "redirect": (302, b"", {"location": "http://elsewhere/"}),
    "no-content": (204, b"", {}),
    "done-not-json": (200, b"<html>ok</html>", {}),
    "done-null": (200, b"null", {}),
    "done-wrong-status": (200, b'{"status":"pending","reference":"P"}', {}),
    "accepted-says-done": (202, b'{"status":"done"}', {}),
    "done-reference-number": (200, b'{"status":"done","reference":7}', {}),
    "done-reference-huge": (200, b'{"status":"done","reference":"' + b"r" * 300 + b'"}', {}),
    "deep": (200, b"[" * 200_000, {}),
    "deep-refusal": (409, b'{"status":"refused","reason":' + b"[" * 200_000, {}),
    "huge-number": (200, b'{"status":"done","reference":' + b"9" * 10_000 + b"}", {}),
    "gzip": (200, gzip.compress(b'{"status":"done"}'), {"content-encoding": "gzip"}),
}

_EXPECTED: dict[str, Answer | str] = {
    "done": Answer(outcome="done", reference="P-1"),
    "created": Answer(outcome="done"),
    "pending": Answer(outcome="pending", reference="P-2"),
    "conflict": Answer(outcome="refused", reason="重复"),
    "unprocessable-plain": Answer(outcome="refused", reason="HTTP 422"),
    "teapot": Answer(outcome="refused", reason="HTTP 418"),
    "refused-wrong-type": Answer(outcome="refused", reason="HTTP 409"),
    "invalid-utf8": Answer(outcome="refused", reason="HTTP 400"),
    "request-timeout": "HTTP 408",
    "too-many": "HTTP 429",
    "server-error": "HTTP 500",
    "bad-gateway": "HTTP 502",
    "redirect": "HTTP 302 (redirects are not followed)",
    "no-content": "HTTP 204 answer not understood",
    "done-not-json": "HTTP 200 answer not understood",
    "done-null": "HTTP 200 answer not understood",
    "done-wrong-status": "HTTP 200 answer not understood",
    "accepted-says-done": "HTTP 202 answer not understood",
    "done-reference-number": "HTTP 200 answer not understood",
    "done-reference-huge": "HTTP 200 answer not understood",
    "deep": "HTTP 200 answer not understood",
    "deep-refusal": Answer(outcome="refused", reason="HTTP 409"),
    "huge-number": "HTTP 200 answer not understood",
    "gzip": "HTTP 200 answer not understood",
    "endless": "HTTP 200 answer not understood",
    "endless-refusal": Answer(outcome="refused", reason="HTTP 409"),
}


def _answering_app() -> FastAPI:
    app = FastAPI()

    @app.post("/answer/{name}")
    async def answer(name: str) -> Response:
        if name.startswith("endless"):
            status = 409 if name == "endless-refusal" else 200
            return StreamingResponse(_endless(), status_code=status)
        status, body, headers = _ANSWERS[name]
        return Response(content=body, status_code=status, headers=headers)

    return app


@pytest.fixture(scope="module")
async def answering() -> AsyncIterator[str]:
    async with serving(_answering_app()) as url:
        yield url


@pytest.mark.parametrize("name", sorted(_EXPECTED))
async def test_every_answer_ends_in_an_answer_or_unavailable(
    answering: str, signer: RegionSigner, name: str
) -> None:
    adapter = _adapter(f"{answering}/answer/{name}", signer)
    expected = _EXPECTED[name]
    try:
        if isinstance(expected, Answer):
            assert await adapter.carry_out(_request()) == expected
        else:
            with pytest.raises(AdapterUnavailable) as unavailable:
                await adapter.carry_out(_request())
            assert unavailable.value.reason == expected
    finally:
        await adapter.aclose()


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
_answers_like = st.fixed_dictionaries(
    {"status": st.sampled_from(["done", "pending", "refused", "", "DONE"]) | _json_values},
    optional={"reference": _json_values, "reason": _json_values},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.integers(min_value=100, max_value=599),
    body=st.none()
    | st.binary(max_size=300)
    | _json_values.map(lambda v: json.dumps(v).encode())
    | _answers_like.map(lambda v: json.dumps(v).encode()),
)
def test_the_answer_parser_never_fails_otherwise(status: int, body: bytes | None) -> None:
    answer: Answer | AdapterUnavailable
    try:
        answer = parse_answer(status, body)
    except AdapterUnavailable as unavailable:
        answer = unavailable
    if isinstance(answer, AdapterUnavailable):
        assert answer.reason.startswith("HTTP ")
        return
    assert answer.outcome == "refused" or 200 <= status < 300
    assert len(answer.reason) <= 500
    assert len(answer.reference) <= 200


_header_names = st.sampled_from(["Tongban-Signature", "tongban-signature", "X"]) | st.text()


@settings(max_examples=300, deadline=None)
@given(
    headers=st.dictionaries(_header_names, st.text(max_size=200), max_size=3)
    | st.builds(
        lambda t, k, s: {"Tongban-Signature": f"t={t},keyid={k},ed25519={s}"},
        st.text(max_size=14),
        st.text(max_size=20),
        st.text(max_size=90),
    ),
    body=st.binary(max_size=200),
)
def test_the_signature_verifier_only_refuses_with_its_own_error(
    headers: dict[str, str], body: bytes
) -> None:
    public = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(headers, body, public, now=SENT_AT)


# --- personal data -------------------------------------------------------------------------


async def test_the_phone_reaches_the_system_and_no_log_or_error(
    receiver: EffectReceiver,
    signer: RegionSigner,
    answering: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    request = _request(phone=SecretStr(PHONE), callback_url="http://127.0.0.1:9/cb")
    texts = [repr(request), str(request)]
    receiver.config = ReceiverConfig(default=Behaviour(fail_first=1, slow_s=2, slow_attempts=2))
    async with serving(FastAPI()) as url:
        closed = url
    targets = [
        (receiver.url + "/sms", 0.3),  # 503
        (receiver.url + "/sms", 0.3),  # slow: timed out
        (receiver.url + "/sms", 5.0),  # done
        (f"{answering}/answer/conflict", 5.0),
        (f"{answering}/answer/server-error", 5.0),
        (f"{answering}/answer/endless", 5.0),
        (closed + "/sms", 5.0),
    ]
    outcomes: list[str] = []
    for url, timeout_s in targets:
        adapter = _adapter(url, signer, timeout_s=timeout_s)
        try:
            outcomes.append((await adapter.carry_out(request)).outcome)
        except AdapterUnavailable as exc:
            outcomes.append("unavailable")
            texts.append("".join(traceback.format_exception(exc)))
        finally:
            await adapter.aclose()
    assert outcomes == [
        "unavailable",
        "unavailable",
        "done",
        "refused",
        "unavailable",
        "unavailable",
        "unavailable",
    ]
    texts.append(caplog.text)
    texts.extend(str(r.args) for r in caplog.records)
    for text in texts:
        assert PHONE not in text
    assert caplog.text  # the calls were logged, just not the phone
    done = receiver.records()[-1]
    assert done.has_phone
    assert done.phone_sha256 == hashlib.sha256(PHONE.encode()).hexdigest()


async def test_the_log_adapter_says_what_without_phone_or_notice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="effects.log_adapter")
    request = _request(phone=SecretStr(PHONE))
    answer = await LogAdapter("log").carry_out(request)
    assert answer == Answer(outcome="done")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "effects.log_adapter"]
    for expected in (request.case_no, request.idempotency_key, "refund-fee", "2000 fen"):
        assert expected in line
    assert f"notice {len(request.notice)} chars" in line
    assert PHONE not in line
    assert request.notice not in line


async def test_build_gives_one_adapter_per_configured_name(
    receiver: EffectReceiver, signer: RegionSigner
) -> None:
    routing = EffectRouting(
        adapters={
            "log": LogTarget(),
            "payments": WebhookTarget(url=receiver.url + "/payments"),
        },
        routes={"refund-fee": "payments"},
    )
    adapters = build_adapters(routing, lambda _: signer)
    try:
        assert set(adapters) == {"log", "payments"}
        assert isinstance(adapters["log"], LogAdapter)
        assert isinstance(adapters["payments"], WebhookAdapter)
        assert adapters["payments"].name == "payments"
        chosen = adapters[routing.adapter_for("refund-fee")]
        assert (await chosen.carry_out(_request())).outcome == "done"
    finally:
        await aclose_adapters(adapters)
    assert receiver.done_count(_request().idempotency_key) == 1


def test_the_worked_example_in_the_integrators_doc_is_what_the_code_does() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "effects-webhooks.md").read_text()
    body = re.search(r"\n(\{\"amount_fen\".*\})\n", doc)
    signature = re.search(r"Tongban-Signature: (t=\S+)", doc)
    published = re.search(r"published as\n?\s*`([A-Za-z0-9_-]{43})`", doc)
    assert body is not None
    assert signature is not None
    assert published is not None
    # The example's key is the fixed seed 0..31; Ed25519 signatures are deterministic.
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    signer = RegionSigner("350000", "350000-sig-2026a", key)
    example = json.loads(body.group(1))
    request = _request(
        example["idempotency_key"],
        detail=example["detail"],
        notice=example["notice"],
        phone=SecretStr(example["phone"]),
        callback_url=example["callback_url"],
    )
    assert webhook_body(request) == body.group(1).encode()
    headers = sign_webhook(webhook_body(request), signer, SENT_AT)
    assert headers["Tongban-Signature"] == signature.group(1)
    public = Ed25519PublicKey.from_public_bytes(b64url_decode(published.group(1)))
    verify_webhook(headers, body.group(1).encode(), public, now=SENT_AT)

    callback = re.search(r"\n(\{\"idempotency_key\".*\})\n", doc)
    callback_signature = re.search(r"Tongban-Callback-Signature: (t=\S+)", doc)
    assert callback is not None
    assert callback_signature is not None
    sent = {SIGNATURE_HEADER_CALLBACK: callback_signature.group(1)}
    heard = verify_callback(sent, callback.group(1).encode(), b"whsec-350000-payments", now=SENT_AT)
    assert heard.reference == "PAY-88231"
