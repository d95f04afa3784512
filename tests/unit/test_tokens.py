"""Bearer tokens: only hashes on disk (0600), expiry, unknown and malformed tokens refused."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regions.tokens import Role, TokenRejected, TokenStore

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_a_token_verifies_to_its_role_region_and_window(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    token, _ = store.issue(
        region="350000",
        role=Role.WINDOW_CLERK,
        window="fz-01",
        valid_for=timedelta(days=1),
        now=NOW,
    )
    found = store.verify(token, NOW + timedelta(hours=1))
    assert (found.role, found.region, found.window) == (Role.WINDOW_CLERK, "350000", "fz-01")
    text = (tmp_path / "350000.json").read_text()
    assert token not in text
    assert token.split("_")[-1] not in text
    assert stat.S_IMODE((tmp_path / "350000.json").stat().st_mode) == 0o600


def test_expired_unknown_and_malformed_tokens_are_rejected(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    token, _ = store.issue(
        region="440000", role=Role.OPERATOR, window="gz", valid_for=timedelta(days=1), now=NOW
    )
    with pytest.raises(TokenRejected, match="expired"):
        store.verify(token, NOW + timedelta(days=1))
    with pytest.raises(TokenRejected, match="unknown"):
        store.verify(token[:-1] + ("A" if token[-1] != "A" else "B"), NOW)
    with pytest.raises(TokenRejected, match="malformed"):
        store.verify("Bearer nonsense", NOW)
    with pytest.raises(TokenRejected, match="unknown"):  # no file for that region at all
        store.verify("tb_110000_" + "x" * 43, NOW)


def test_issuing_keeps_earlier_tokens_and_drops_expired_ones(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    old, _ = store.issue(
        region="350000", role=Role.OPERATOR, window="a", valid_for=timedelta(hours=1), now=NOW
    )
    kept, _ = store.issue(
        region="350000", role=Role.OPERATOR, window="b", valid_for=timedelta(days=9), now=NOW
    )
    later = NOW + timedelta(days=2)
    store.issue(
        region="350000", role=Role.OPERATOR, window="c", valid_for=timedelta(days=1), now=later
    )
    assert store.verify(kept, later).window == "b"
    assert (tmp_path / "350000.json").read_text().count('"sha256"') == 2  # "a" pruned
    with pytest.raises(TokenRejected):
        store.verify(old, later)
