"""Bearer tokens: only hashes on disk (0600); expired, revoked, unknown and malformed tokens
refused; ids that name a token without revealing it; revocation never lost to a racing issue."""

from __future__ import annotations

import json
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from regions.cli import app
from regions.tokens import (
    Role,
    TokenRejected,
    TokenState,
    TokenStore,
    UnknownTokenId,
    describe,
    token_id,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


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
    assert token.split("_", 2)[2] not in text  # the secret (base64url: it may hold "_")
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


def test_a_revoked_token_is_refused_and_still_listed_as_revoked(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    revoked, record = store.issue(
        region="350000", role=Role.WINDOW_CLERK, window="fz-01", valid_for=DAY, now=NOW
    )
    kept, _ = store.issue(
        region="350000", role=Role.WINDOW_CLERK, window="fz-02", valid_for=DAY, now=NOW
    )
    later = NOW + timedelta(minutes=5)
    store.revoke(record.token_id, now=later)
    with pytest.raises(TokenRejected, match="revoked"):
        store.verify(revoked, later)
    assert store.verify(kept, later).window == "fz-02"
    again = store.revoke(token_id(revoked), now=later + timedelta(hours=1))
    assert again.revoked_at == later  # the first revocation is the one that counts
    states = {r.window: r.state(later) for r in TokenStore(tmp_path).records()}
    assert states == {"fz-01": TokenState.REVOKED, "fz-02": TokenState.ACTIVE}


def test_revoking_an_unknown_id_changes_nothing(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    token, _ = store.issue(region="440000", role=Role.OPERATOR, window="gz", valid_for=DAY, now=NOW)
    before = (tmp_path / "440000.json").read_bytes()
    for wrong in ("0" * 12, "not-an-id", token):
        with pytest.raises(UnknownTokenId):
            store.revoke(wrong, now=NOW)
    assert (tmp_path / "440000.json").read_bytes() == before
    store.verify(token, NOW)


def test_the_id_shown_reveals_neither_token_nor_hash(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    token, record = store.issue(
        region="350000", role=Role.OPERATOR, window="ops", valid_for=DAY, now=NOW
    )
    shown = describe(record, NOW)
    assert shown["id"] == token_id(token) == record.token_id
    assert shown["state"] == "active"
    text = json.dumps(shown)
    assert token.split("_", 2)[2] not in text
    assert record.sha256 not in text
    assert str(shown["id"]) not in record.sha256  # not a slice of the verifying hash


def test_a_revocation_racing_issues_is_never_lost(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    _, target = store.issue(
        region="350000", role=Role.WINDOW_CLERK, window="leaked", valid_for=DAY, now=NOW
    )

    def issue_many(n: int) -> None:
        for i in range(25):
            TokenStore(tmp_path).issue(
                region="350000",
                role=Role.WINDOW_CLERK,
                window=f"w{n}-{i}",
                valid_for=DAY,
                now=NOW,
            )

    with ThreadPoolExecutor(max_workers=9) as pool:
        issuing = [pool.submit(issue_many, n) for n in range(8)]
        pool.submit(TokenStore(tmp_path).revoke, target.token_id, now=NOW).result()
        for done in issuing:
            done.result()
    records = store.records("350000")
    assert len(records) == 1 + 8 * 25
    assert [r.window for r in records if r.revoked_at is not None] == ["leaked"]


def test_a_file_written_before_revocation_existed_still_verifies(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    token, _ = store.issue(
        region="350000", role=Role.OPERATOR, window="old", valid_for=DAY, now=NOW
    )
    path = tmp_path / "350000.json"
    legacy = [
        {k: v for k, v in entry.items() if k != "revoked_at"}
        for entry in json.loads(path.read_text())
    ]
    path.write_text(json.dumps(legacy))
    assert store.verify(token, NOW).window == "old"


def test_cli_lists_without_secrets_and_revokes_a_held_token(tmp_path: Path) -> None:
    runner = CliRunner()
    issued = runner.invoke(
        app,
        [
            *("tokens", "issue", "--region", "350000", "--role", "window-clerk"),
            *("--window", "fz-01", "--person", "FZ1001", "--name", "王芳"),
            *("--directory", str(tmp_path), "--json"),
        ],
    )
    assert issued.exit_code == 0, issued.output
    token = json.loads(issued.stdout)["token"]
    listed = runner.invoke(app, ["tokens", "list", "--directory", str(tmp_path)])
    assert listed.exit_code == 0
    assert f"{token_id(token)}  350000  window-clerk" in listed.stdout
    assert "active" in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout
    revoked = runner.invoke(
        app,
        ["tokens", "revoke", "--token-env", "HELD", "--directory", str(tmp_path), "--json"],
        env={"HELD": token},
    )
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout)["state"] == "revoked"
    with pytest.raises(TokenRejected, match="revoked"):
        TokenStore(tmp_path).verify(token)
    unknown = runner.invoke(app, ["tokens", "revoke", "0" * 12, "--directory", str(tmp_path)])
    assert unknown.exit_code == 1
