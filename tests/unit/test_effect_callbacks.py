"""Callbacks: a system answering a pending effect later, authenticated with a shared secret.

The verifier is the node's boundary for these requests, so every malformed, forged, replayed
or odd request must end in `CallbackRefused` naming what failed; and the real receiver's
callbacks (in this process and as its own process, across a restart) verify.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from hypothesis import given, settings
from hypothesis import strategies as st

from effects.adapters import EffectRequest
from effects.callbacks import (
    MAX_CALLBACK_BYTES,
    SIGNATURE_HEADER,
    CallbackProblem,
    CallbackRefused,
    EffectCallback,
    sign_callback,
    verify_callback,
)
from effects.settings import WebhookTarget
from effects.webhook import WebhookAdapter
from events.signing import RegionSigner
from tests.support.effect_receiver import (
    Behaviour,
    CallbackSent,
    EffectReceiver,
    ReceiverConfig,
    spawn_receiver,
)
from tests.support.http_server import serving
from tests.waiting import eventually

SECRET = b"a-secret-shared-with-the-payment-platform"
AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BODY = json.dumps(
    {"idempotency_key": "350100-2026-000123:refund-fee:1", "outcome": "done", "reference": "P-9"}
).encode()


def _problem(headers: dict[str, str], body: bytes = BODY, now: datetime = AT) -> CallbackProblem:
    with pytest.raises(CallbackRefused) as refused:
        verify_callback(headers, body, SECRET, now=now)
    return refused.value.problem


def test_a_signed_callback_verifies_and_is_read() -> None:
    headers = sign_callback(BODY, SECRET, AT)
    callback = verify_callback(headers, BODY, SECRET, now=AT + timedelta(seconds=10))
    assert callback == EffectCallback(
        idempotency_key="350100-2026-000123:refund-fee:1", outcome="done", reference="P-9"
    )
    lower = {k.lower(): v for k, v in headers.items()}
    assert verify_callback(lower, BODY, SECRET, now=AT) == callback


def test_a_changed_body_time_or_secret_is_a_bad_signature() -> None:
    headers = sign_callback(BODY, SECRET, AT)
    assert _problem(headers, BODY.replace(b"done", b"dona")) is CallbackProblem.BAD_SIGNATURE
    stamp = int(AT.timestamp())
    moved = headers[SIGNATURE_HEADER].replace(f"t={stamp},", f"t={stamp - 1},")
    assert _problem({SIGNATURE_HEADER: moved}) is CallbackProblem.BAD_SIGNATURE
    with pytest.raises(CallbackRefused) as other_secret:
        verify_callback(headers, BODY, b"another secret", now=AT)
    assert other_secret.value.problem is CallbackProblem.BAD_SIGNATURE


def test_an_old_or_future_callback_is_stale() -> None:
    headers = sign_callback(BODY, SECRET, AT)
    assert _problem(headers, now=AT + timedelta(seconds=301)) is CallbackProblem.STALE_TIMESTAMP
    assert _problem(headers, now=AT - timedelta(seconds=301)) is CallbackProblem.STALE_TIMESTAMP
    verify_callback(headers, BODY, SECRET, now=AT + timedelta(seconds=299))


def test_during_a_secret_rotation_one_matching_signature_is_enough() -> None:
    ours = sign_callback(BODY, SECRET, AT)[SIGNATURE_HEADER]
    theirs = sign_callback(BODY, b"the old secret", AT)[SIGNATURE_HEADER]
    both = theirs + "," + ours.split(",")[1]
    assert verify_callback({SIGNATURE_HEADER: both}, BODY, SECRET, now=AT).reference == "P-9"


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, CallbackProblem.MISSING_HEADER),
        ("", CallbackProblem.MALFORMED_HEADER),
        ("v1=" + "0" * 64, CallbackProblem.MALFORMED_HEADER),
        ("t=1795780800", CallbackProblem.MALFORMED_HEADER),
        ("t=-1,v1=" + "0" * 64, CallbackProblem.MALFORMED_HEADER),
        ("t=1,t=2,v1=" + "0" * 64, CallbackProblem.MALFORMED_HEADER),
        ("t=1795780800,v1=XYZ", CallbackProblem.MALFORMED_HEADER),
        ("t=1795780800,v1=" + "A" * 64, CallbackProblem.MALFORMED_HEADER),
        ("t=٣,v1=" + "0" * 64, CallbackProblem.MALFORMED_HEADER),
        ("t=" + "9" * 40 + ",v1=" + "0" * 64, CallbackProblem.MALFORMED_HEADER),
        ("t=1795780800,v1=" + "0" * 64 + "," * 2000, CallbackProblem.MALFORMED_HEADER),
        ("t=1795780800,v1=" + "0" * 64, CallbackProblem.BAD_SIGNATURE),
    ],
)
def test_a_malformed_header_is_named(header: str | None, problem: CallbackProblem) -> None:
    headers = {} if header is None else {SIGNATURE_HEADER: header}
    assert _problem(headers) is problem


def test_the_same_header_twice_is_malformed() -> None:
    signed = sign_callback(BODY, SECRET, AT)[SIGNATURE_HEADER]
    twice = {SIGNATURE_HEADER: signed, SIGNATURE_HEADER.lower(): signed}
    assert _problem(twice) is CallbackProblem.MALFORMED_HEADER


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"idempotency_key":"k","outcome":"maybe"}',
        b'{"idempotency_key":"k","outcome":"refused"}',  # a refusal must say why
        b'{"idempotency_key":"k","outcome":"refused","reason":"  "}',
        b'{"idempotency_key":"","outcome":"done"}',
        b'{"idempotency_key":"k","outcome":"done","extra":1}',
        b'{"idempotency_key":"k","outcome":"done",}',
        b"[" * 100_000,
        b'{"idempotency_key":"k","outcome":"done","reference":"' + b"r" * 201 + b'"}',
        b" " * (MAX_CALLBACK_BYTES + 1),
    ],
)
def test_a_signed_body_that_is_no_callback_is_a_bad_body(body: bytes) -> None:
    assert _problem(sign_callback(body, SECRET, AT), body) is CallbackProblem.BAD_BODY


def test_a_refusal_carries_its_reason() -> None:
    body = json.dumps(
        {"idempotency_key": "k", "outcome": "refused", "reason": "账户已冻结"}, ensure_ascii=False
    ).encode()
    callback = verify_callback(sign_callback(body, SECRET, AT), body, SECRET, now=AT)
    assert (callback.outcome, callback.reason) == ("refused", "账户已冻结")


_names = st.sampled_from([SIGNATURE_HEADER, SIGNATURE_HEADER.lower(), "Content-Type"]) | st.text()
_near_headers = st.builds(
    lambda t, v, rest: {SIGNATURE_HEADER: f"t={t},v1={v}{rest}"},
    st.integers(min_value=-10, max_value=10**13).map(str) | st.text(max_size=14),
    st.text(alphabet="0123456789abcdefABCDEF", max_size=70) | st.text(max_size=70),
    st.text(max_size=30),
)


@settings(max_examples=500, deadline=None)
@given(
    headers=st.dictionaries(_names, st.text(max_size=300), max_size=4) | _near_headers,
    body=st.binary(max_size=500),
)
def test_the_verifier_refuses_anything_unsigned_with_its_own_error(
    headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(CallbackRefused):
        verify_callback(headers, body, SECRET, now=AT)


_callback_like = st.fixed_dictionaries(
    {},
    optional={
        "idempotency_key": st.text(max_size=210) | st.integers() | st.none(),
        "outcome": st.sampled_from(["done", "refused", "pending"]) | st.text(max_size=5),
        "reason": st.text(max_size=510) | st.integers(),
        "reference": st.text(max_size=210) | st.lists(st.integers(), max_size=2),
        "other": st.text(max_size=5),
    },
)


@settings(max_examples=500, deadline=None)
@given(
    body=st.binary(max_size=500)
    | _callback_like.map(lambda v: json.dumps(v, ensure_ascii=False).encode())
)
def test_a_signed_body_of_any_shape_is_a_callback_or_a_bad_body(body: bytes) -> None:
    heard: EffectCallback | CallbackRefused
    try:
        heard = verify_callback(sign_callback(body, SECRET, AT), body, SECRET, now=AT)
    except CallbackRefused as refused:
        heard = refused
    if isinstance(heard, CallbackRefused):
        assert heard.problem is CallbackProblem.BAD_BODY
    else:
        assert heard.outcome in ("done", "refused")


# --- the receiver's callbacks reach a node-like route and verify -------------------------


@dataclass
class _Node:
    """What the node's callback route does with them: verify, then keep."""

    secret: bytes
    unavailable_first: int = 0
    heard: list[EffectCallback] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    calls: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/effects/callback")
        async def callback(request: Request) -> Response:
            self.calls += 1
            if self.calls <= self.unavailable_first:
                return JSONResponse({"status": "unavailable"}, 503)
            body = await request.body()
            try:
                heard = verify_callback(request.headers, body, self.secret, now=datetime.now(UTC))
            except CallbackRefused as refused:
                self.refusals.append(refused.problem.value)
                return JSONResponse({"problem": refused.problem.value}, 401)
            self.heard.append(heard)
            return JSONResponse({"status": "ok"})

        return app


@pytest.fixture
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _adapter(url: str, private_key: Ed25519PrivateKey) -> WebhookAdapter:
    signer = RegionSigner("350000", "350000-sig-test", private_key)
    return WebhookAdapter("post", WebhookTarget(url=url + "/post"), lambda _: signer)


def _request(callback_url: str, key: str = "350100-2026-000123:ship-result:1") -> EffectRequest:
    return EffectRequest(
        idempotency_key=key,
        region="350000",
        case_no="350100-2026-000123",
        effect="ship-result",
        key="ship-result",
        series=1,
        callback_url=callback_url,
    )


@pytest.fixture
async def node() -> AsyncIterator[tuple[_Node, str]]:
    heard = _Node(SECRET)
    async with serving(heard.app()) as url:
        yield heard, url + "/effects/callback"


async def test_a_pending_effect_is_done_when_the_system_calls_back(
    tmp_path: Path, private_key: Ed25519PrivateKey, node: tuple[_Node, str]
) -> None:
    heard, callback_url = node
    config = ReceiverConfig(default=Behaviour(answer="pending"))
    async with EffectReceiver(
        tmp_path / "r.db",
        public_key=private_key.public_key(),
        config=config,
        callback_secret=SECRET,
    ) as receiver:
        adapter = _adapter(receiver.url, private_key)
        request = _request(callback_url)
        try:
            pending = await adapter.carry_out(request)
            assert pending.outcome == "pending"
            assert receiver.done_count(request.idempotency_key) == 0
            sent = await receiver.complete(request.idempotency_key)
            settled = await adapter.carry_out(request)
        finally:
            await adapter.aclose()
        assert sent.status_code == 200
        assert heard.heard == [
            EffectCallback(
                idempotency_key=request.idempotency_key,
                outcome="done",
                reference=pending.reference,
            )
        ]
        assert receiver.done_count(request.idempotency_key) == 1
        # Asked again after the callback, the system gives the settled answer.
        assert (settled.outcome, settled.reference) == ("done", pending.reference)


async def test_a_pending_effect_refused_later_calls_back_with_the_reason_and_retries(
    tmp_path: Path, private_key: Ed25519PrivateKey
) -> None:
    heard = _Node(SECRET, unavailable_first=2)
    config = ReceiverConfig(
        default=Behaviour(
            answer="pending",
            callback_after_s=0,
            callback_outcome="refused",
            callback_reason="地址无法投递",
        )
    )
    async with (
        serving(heard.app()) as node_url,
        EffectReceiver(
            tmp_path / "r.db",
            public_key=private_key.public_key(),
            config=config,
            callback_secret=SECRET,
        ) as receiver,
    ):
        adapter = _adapter(receiver.url, private_key)
        request = _request(node_url + "/effects/callback")
        try:
            assert (await adapter.carry_out(request)).outcome == "pending"
        finally:
            await adapter.aclose()

        async def tries() -> list[CallbackSent]:
            return receiver.store.callbacks(request.idempotency_key)

        sent = await eventually(
            tries,
            what="the callback to get through",
            until=lambda s: bool(s) and s[-1].status_code == 200,
        )
    assert [s.status_code for s in sent] == [503, 503, 200]
    assert [(c.outcome, c.reason) for c in heard.heard] == [("refused", "地址无法投递")]
    assert receiver.store.done_count(request.idempotency_key) == 0


async def test_a_callback_signed_with_another_secret_is_refused_by_the_node(
    tmp_path: Path, private_key: Ed25519PrivateKey, node: tuple[_Node, str]
) -> None:
    heard, callback_url = node
    async with EffectReceiver(
        tmp_path / "r.db",
        public_key=private_key.public_key(),
        config=ReceiverConfig(default=Behaviour(answer="pending")),
        callback_secret=b"not the shared secret",
    ) as receiver:
        adapter = _adapter(receiver.url, private_key)
        request = _request(callback_url)
        try:
            await adapter.carry_out(request)
        finally:
            await adapter.aclose()
        sent = await receiver.complete(request.idempotency_key)
    assert sent.status_code == 401
    assert heard.heard == []
    assert heard.refusals == ["bad-signature"]


async def test_the_receiver_as_its_own_process_keeps_its_records_across_a_restart(
    tmp_path: Path, private_key: Ed25519PrivateKey, node: tuple[_Node, str]
) -> None:
    heard, callback_url = node
    store = tmp_path / "receiver.db"
    config = ReceiverConfig(effects={"ship-result": Behaviour(answer="pending")})
    request = _request(callback_url)
    with spawn_receiver(
        store, public_key=private_key.public_key(), config=config, callback_secret=SECRET
    ) as first:
        adapter = _adapter(first.url, private_key)
        try:
            pending = await adapter.carry_out(request)
        finally:
            await adapter.aclose()
        assert pending.outcome == "pending"
        await first.complete(request.idempotency_key)

        async def callbacks() -> list[EffectCallback]:
            return list(heard.heard)

        await eventually(callbacks, what="the receiver process to call back", until=bool)
        assert first.done_count(request.idempotency_key) == 1
    assert first.process.returncode is not None

    with spawn_receiver(
        store, public_key=private_key.public_key(), config=config, callback_secret=SECRET
    ) as second:
        adapter = _adapter(second.url, private_key)
        try:
            again = await adapter.carry_out(request)
        finally:
            await adapter.aclose()
        assert (again.outcome, again.reference) == ("done", pending.reference)
        assert second.done_count(request.idempotency_key) == 1
        assert [e.key for e in second.effects_for(request.case_no)] == ["ship-result"]
        assert len(second.records()) == 2
