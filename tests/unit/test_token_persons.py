"""Tokens name the person they were issued to (工号 and name), and a step records that person:
files written before persons existed still load and verify; the fields round-trip through the
file, the listing and the principal; clerks' and officers' tokens cannot be issued nameless."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from regions.api.auth import step_actor
from regions.cli import app
from regions.tokens import Role, TokenStore, describe

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
A = "350000"

# A token file as the node wrote it before tokens named their person.
LEGACY_ENTRY = {
    "sha256": "",
    "role": "window-clerk",
    "region": A,
    "window": "fz-legacy",
    "issued_at": "2026-11-27T12:00:00Z",
    "expires_at": "2026-11-28T12:00:00Z",
    "revoked_at": None,
}


def _issue(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        [
            *("tokens", "issue", "--region", A, "--window", "fz-01"),
            *("--directory", str(tmp_path), "--json", *args),
        ],
    )
    return result.exit_code, result.output


def test_a_file_written_before_tokens_named_persons_still_loads_and_verifies(
    tmp_path: Path,
) -> None:
    store = TokenStore(tmp_path)
    token, record = store.issue(
        region=A, role=Role.WINDOW_CLERK, window="fz-legacy", valid_for=DAY, now=NOW
    )
    legacy = {**LEGACY_ENTRY, "sha256": record.sha256}
    (tmp_path / f"{A}.json").write_text(json.dumps([legacy]))
    caller = store.verify(token, NOW)
    assert (caller.window, caller.person_id, caller.person_name) == ("fz-legacy", None, None)
    # Such a token still takes steps; the step says whose window, and that the person is unknown.
    actor = step_actor(caller)
    assert (actor.kind, actor.person_id, actor.window) == ("person", None, "fz-legacy")
    assert actor.label == "未登记经办人（fz-legacy）"


def test_person_fields_round_trip_through_the_file_the_principal_and_the_listing(
    tmp_path: Path,
) -> None:
    token, _ = TokenStore(tmp_path).issue(
        region=A,
        role=Role.WINDOW_CLERK,
        window="fz-01",
        valid_for=DAY,
        now=NOW,
        person_id="FZ1001",
        person_name="王芳",
    )
    reread = TokenStore(tmp_path)  # a node reads the file afresh on every request
    (record,) = reread.records(A)
    assert (record.person_id, record.person_name) == ("FZ1001", "王芳")
    assert describe(record)["person_id"] == "FZ1001"
    caller = reread.verify(token, NOW)
    actor = step_actor(caller)
    assert (actor.person_id, actor.name, actor.region, actor.window) == (
        "FZ1001",
        "王芳",
        A,
        "fz-01",
    )
    assert actor.label == "王芳（工号 FZ1001，fz-01）"
    listed = CliRunner().invoke(app, ["tokens", "list", "--directory", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert "FZ1001 王芳" in listed.stdout


def test_a_file_with_nameless_tokens_is_written_without_the_new_fields(tmp_path: Path) -> None:
    """So a node of the version before persons existed can still read it (its records forbid
    unknown fields)."""
    TokenStore(tmp_path).issue(region=A, role=Role.OPERATOR, window="ops", valid_for=DAY, now=NOW)
    (entry,) = json.loads((tmp_path / f"{A}.json").read_text())
    assert set(entry) == {"sha256", "role", "region", "window", "issued_at", "expires_at"}


@pytest.mark.parametrize(
    ("person_id", "person_name"),
    [
        ("FZ 1001", "王芳"),  # whitespace in a 工号
        ("F" * 33, "王芳"),  # too long
        ("", "王芳"),
        ("FZ1001", ""),
        ("FZ1001", " 王芳"),
        ("FZ1001", "王\n芳"),
        ("FZ1001", None),  # half a person
        (None, "王芳"),
    ],
)
def test_a_malformed_person_is_refused_and_nothing_is_written(
    tmp_path: Path, person_id: str | None, person_name: str | None
) -> None:
    with pytest.raises(ValidationError):
        TokenStore(tmp_path).issue(
            region=A,
            role=Role.WINDOW_CLERK,
            window="fz-01",
            valid_for=DAY,
            now=NOW,
            person_id=person_id,
            person_name=person_name,
        )
    assert TokenStore(tmp_path).records(A) == []


@pytest.mark.parametrize("role", ["window-clerk", "processing-officer"])
def test_the_cli_issues_clerks_and_officers_tokens_only_to_a_named_person(
    tmp_path: Path, role: str
) -> None:
    code, output = _issue(tmp_path, "--role", role)
    assert code == 2
    assert "--person" in output
    code, _ = _issue(tmp_path, "--role", role, "--person", "GZ2001")
    assert code == 2  # a 工号 without a name
    assert TokenStore(tmp_path).records(A) == []
    code, output = _issue(tmp_path, "--role", role, "--person", "GZ2001", "--name", "李明")
    assert code == 0, output
    shown = json.loads(output)
    assert (shown["person_id"], shown["person_name"], shown["role"]) == ("GZ2001", "李明", role)


def test_the_cli_refuses_a_malformed_person_without_echoing_it(tmp_path: Path) -> None:
    code, output = _issue(
        tmp_path, "--role", "window-clerk", "--person", "FZ 1001", "--name", "王芳"
    )
    assert code == 2
    assert "person_id" in output
    assert "FZ 1001" not in output
    assert TokenStore(tmp_path).records(A) == []


def test_an_operator_token_may_name_no_person(tmp_path: Path) -> None:
    code, output = _issue(tmp_path, "--role", "operator")
    assert code == 0, output
    assert json.loads(output)["role"] == "operator"
    listed = CliRunner().invoke(app, ["tokens", "list", "--directory", str(tmp_path)])
    assert "operator" in listed.stdout
