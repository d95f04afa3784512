"""The cluster's Temporal tokens (decision 0052): one per region, granting its own namespace
only, signed by a key whose public half the frontend reads; kept while valid, issued again
when due or when the key changed."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from deploy.stack import temporal_tokens
from deploy.stack.certs import LEAF_VALIDITY, RENEW_BEFORE, load_key
from deploy.stack.cluster_layout import ClusterLayout
from deploy.stack.settings import StackSettings

REGIONS = ("350000", "440000")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _layout(tmp_path: Path) -> ClusterLayout:
    return ClusterLayout.of(StackSettings(state_dir=tmp_path, stack_profile="cluster"))


def _jwks_key(layout: ClusterLayout, kid: str) -> jwt.PyJWK:
    keys = json.loads(temporal_tokens.jwks_path(layout).read_text())["keys"]
    (entry,) = [k for k in keys if k["kid"] == kid]
    return jwt.PyJWK(entry)


def test_a_regions_token_grants_its_own_namespace_and_verifies_against_the_jwks(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path)
    assert temporal_tokens.ensure_tokens(layout, REGIONS, now=NOW) == list(REGIONS)
    token = temporal_tokens.token_path(layout, "350000").read_text()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    claims = jwt.decode(
        token,
        _jwks_key(layout, header["kid"]),
        algorithms=["ES256"],
        options={"verify_exp": False},
    )
    assert claims["sub"] == "region-350000"
    assert claims["permissions"] == ["region-350000:write"]
    assert claims["exp"] - claims["iat"] == int(LEAF_VALIDITY.total_seconds())
    for secret in (
        temporal_tokens.signing_key_path(layout),
        temporal_tokens.token_path(layout, "440000"),
    ):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_a_token_signed_by_another_key_does_not_verify(tmp_path: Path) -> None:
    ours, theirs = _layout(tmp_path / "ours"), _layout(tmp_path / "theirs")
    temporal_tokens.ensure_tokens(ours, REGIONS, now=NOW)
    temporal_tokens.ensure_tokens(theirs, REGIONS, now=NOW)
    forged = temporal_tokens.token_path(theirs, "350000").read_text()
    kid = jwt.get_unverified_header(temporal_tokens.token_path(ours, "350000").read_text())["kid"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            forged, _jwks_key(ours, kid), algorithms=["ES256"], options={"verify_exp": False}
        )


def test_issuing_again_keeps_valid_tokens_and_renews_due_ones(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    temporal_tokens.ensure_tokens(layout, REGIONS, now=NOW)
    before = temporal_tokens.token_path(layout, "350000").read_text()
    assert temporal_tokens.ensure_tokens(layout, REGIONS, now=NOW + timedelta(days=1)) == []
    assert temporal_tokens.token_path(layout, "350000").read_text() == before
    due = NOW + LEAF_VALIDITY - RENEW_BEFORE + timedelta(days=1)
    assert temporal_tokens.ensure_tokens(layout, REGIONS, now=due) == list(REGIONS)
    assert temporal_tokens.token_path(layout, "350000").read_text() != before


def test_a_new_signing_key_reissues_every_token(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    temporal_tokens.ensure_tokens(layout, REGIONS, now=NOW)
    temporal_tokens.signing_key_path(layout).unlink()
    assert temporal_tokens.ensure_tokens(layout, REGIONS, now=NOW) == list(REGIONS)
    keys = json.loads(temporal_tokens.jwks_path(layout).read_text())["keys"]
    kid = jwt.get_unverified_header(temporal_tokens.token_path(layout, "440000").read_text())["kid"]
    assert [k["kid"] for k in keys] == [kid]


def test_a_token_without_an_expiry_is_issued_again(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    temporal_tokens.ensure_tokens(layout, REGIONS, now=NOW)
    key = load_key(temporal_tokens.signing_key_path(layout))
    claims = {"sub": "region-350000", "permissions": ["region-350000:write"]}
    path = temporal_tokens.token_path(layout, "350000")
    path.write_text(jwt.encode(claims, key, algorithm="ES256"))
    assert temporal_tokens.ensure_tokens(layout, REGIONS, now=NOW) == ["350000"]
    assert "exp" in jwt.decode(path.read_text(), options={"verify_signature": False})
