"""The applicant's ID token (decision 0034): every way a token can be wrong is a typed refusal
with its reason, never an exception; keys are refreshed on an unknown kid, rate limited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regions.identity import (
    IdentityProvider,
    IdentityRefused,
    IdentityUnavailable,
    IdentityVerifier,
    subject_digest,
)
from regions.identity_keys import JwksCache, KeysUnavailable
from tests.support.identity_provider import TokenMint

ISSUER = "https://idp.example.test"
AUDIENCE = "tongban-350000"
SUB = "pseudonym-0001"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _provider(**changes: Any) -> IdentityProvider:
    return IdentityProvider(
        issuer=ISSUER, audience=AUDIENCE, jwks_url="https://idp.example.test/jwks.json", **changes
    )


def _verifier(
    mint: TokenMint, clock: Clock | None = None, **changes: Any
) -> tuple[IdentityVerifier, JwksCache]:
    async def fetch(url: str) -> bytes:
        return json.dumps(mint.jwks()).encode()

    cache = JwksCache(
        "https://idp.example.test/jwks.json",
        fetch=fetch,
        min_refresh_s=30.0,
        clock=clock or Clock(),
    )
    return IdentityVerifier(_provider(**changes), cache), cache


async def _reason(verifier: IdentityVerifier, token: str | None) -> str:
    with pytest.raises(IdentityRefused) as refused:
        await verifier.verify(token)
    return refused.value.reason


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
async def test_a_token_of_the_provider_names_the_applicant_by_digest(algorithm: Any) -> None:
    mint = TokenMint(ISSUER, AUDIENCE, algorithm)
    verifier, _ = _verifier(mint)
    applicant = await verifier.verify(mint.token(SUB, "李四", "11010519491231002X"))
    assert applicant.subject == subject_digest(ISSUER, SUB)
    assert SUB not in applicant.subject
    assert (applicant.name, applicant.id_number) == ("李四", "11010519491231002X")
    # Personal data stays out of anything that might be logged.
    assert "李四" not in repr(applicant)
    assert "11010519491231002X" not in repr(applicant)


async def test_a_forged_signature_is_refused() -> None:
    mint = TokenMint(ISSUER, AUDIENCE)
    verifier, _ = _verifier(mint)
    other = TokenMint(ISSUER, AUDIENCE)
    other.kid = mint.kid  # signed by another key under the provider's key id
    other.keys = {mint.kid: other.keys[next(iter(other.keys))]}
    assert await _reason(verifier, other.token(SUB)) == "bad_signature"
    head, body, signature = mint.token(SUB).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "someone-else"
    altered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert await _reason(verifier, f"{head}.{altered}.{signature}") == "bad_signature"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"issuer": "https://evil.example.test"}, "wrong_issuer"),
        ({"audience": "tongban-440000"}, "wrong_audience"),
        ({"expires_in": -120}, "expired"),
        ({"not_before_in": 600}, "not_yet_valid"),
        ({"issued_in": 600}, "not_yet_valid"),
        ({"id_number": "110105194912310021"}, "claims_invalid"),
        ({"name": " "}, "claims_missing"),
    ],
)
async def test_claims_that_do_not_hold_are_refused(claims: dict[str, Any], reason: str) -> None:
    mint = TokenMint(ISSUER, AUDIENCE)
    verifier, _ = _verifier(mint)
    assert await _reason(verifier, mint.token(SUB, **claims)) == reason


async def test_a_small_clock_skew_is_tolerated() -> None:
    mint = TokenMint(ISSUER, AUDIENCE)
    verifier, _ = _verifier(mint)
    assert await verifier.verify(mint.token(SUB, expires_in=-10, issued_in=-600))
    assert await verifier.verify(mint.token(SUB, not_before_in=10, issued_in=10))


async def test_alg_none_and_hs256_with_the_public_key_are_refused() -> None:
    mint = TokenMint(ISSUER, AUDIENCE)
    verifier, _ = _verifier(mint)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": SUB, "iat": now, "exp": now + 600}
    claims |= {"name": "张三", "id_number": "11010519491231002X"}
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"kid": mint.kid})
    assert await _reason(verifier, unsigned) == "algorithm_not_allowed"
    # The classic confusion: HMAC keyed with the public key everyone can read.
    public_pem = (
        mint.keys[mint.kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": mint.kid}
    segments = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in (header, claims)
    ]
    mac = hmac.new(public_pem, ".".join(segments).encode(), hashlib.sha256).digest()
    forged = ".".join([*segments, base64.urlsafe_b64encode(mac).rstrip(b"=").decode()])
    assert await _reason(verifier, forged) == "algorithm_not_allowed"
    # A token claiming ES256 under the provider's RSA key.
    es_header = {"alg": "ES256", "kid": mint.kid}
    head = base64.urlsafe_b64encode(json.dumps(es_header).encode()).rstrip(b"=").decode()
    assert await _reason(verifier, f"{head}.{segments[1]}.AAAA") == "algorithm_not_allowed"


async def test_an_unknown_kid_refreshes_the_keys_once_per_interval() -> None:
    mint = TokenMint(ISSUER, AUDIENCE)
    clock = Clock()
    verifier, cache = _verifier(mint, clock)
    assert await verifier.verify(mint.token(SUB))
    assert cache.refreshes == 1
    # The provider rotates: the first token under the new kid refreshes and is taken.
    mint.rotate(drop_old=True)
    clock.now += 31
    assert await verifier.verify(mint.token(SUB))
    assert cache.refreshes == 2
    # A kid the provider never published: one refresh in the interval, then refused unasked.
    stranger = TokenMint(ISSUER, AUDIENCE)
    clock.now += 31
    for _ in range(20):
        assert await _reason(verifier, stranger.token(SUB)) == "unknown_key"
    assert cache.refreshes == 3


async def test_keys_that_cannot_be_read_are_unavailable_not_a_refusal() -> None:
    async def down(url: str) -> bytes:
        raise KeysUnavailable("the identity provider's keys: ConnectError")

    mint = TokenMint(ISSUER, AUDIENCE)
    verifier = IdentityVerifier(_provider(), JwksCache("https://x.test/jwks", fetch=down))
    with pytest.raises(IdentityUnavailable):
        await verifier.verify(mint.token(SUB))


async def test_no_token_and_an_oversized_token_are_refused() -> None:
    verifier, _ = _verifier(TokenMint(ISSUER, AUDIENCE))
    assert await _reason(verifier, None) == "token_missing"
    assert await _reason(verifier, "") == "token_missing"
    assert await _reason(verifier, "a" * 9000) == "token_too_large"
    assert await _reason(verifier, "not.a.token") == "token_malformed"


_MINT = TokenMint(ISSUER, AUDIENCE)
_GOOD = _MINT.token(SUB)


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
_tokens = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    # Real segments, one replaced or cut.
    st.tuples(st.integers(0, 2), st.binary(max_size=120)).map(
        lambda cut: ".".join(
            _segment(cut[1]) if i == cut[0] else part for i, part in enumerate(_GOOD.split("."))
        )
    ),
    # Headers and bodies that are JSON of any shape.
    st.tuples(_json_values, _json_values).map(
        lambda parts: ".".join(
            [
                _segment(json.dumps(parts[0]).encode()),
                _segment(json.dumps(parts[1]).encode()),
                _GOOD.split(".")[2],
            ]
        )
    ),
    st.integers(1, len(_GOOD) - 1).map(lambda n: _GOOD[:n]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=_tokens)
async def test_whatever_arrives_as_a_token_is_refused_with_a_reason(token: str) -> None:
    verifier, _ = _verifier(_MINT)
    with pytest.raises(IdentityRefused) as refused:
        await verifier.verify(token)
    assert refused.value.reason


async def test_a_sign_in_answer_must_carry_the_sign_in_s_nonce() -> None:
    mint = TokenMint(ISSUER, AUDIENCE)
    verifier, _ = _verifier(mint)
    assert await verifier.verify(mint.token(SUB, nonce="n-1"), nonce="n-1")
    with pytest.raises(IdentityRefused) as refused:
        await verifier.verify(mint.token(SUB, nonce="n-2"), nonce="n-1")
    assert refused.value.reason == "nonce_mismatch"
    with pytest.raises(IdentityRefused):
        await verifier.verify(mint.token(SUB), nonce="n-1")
