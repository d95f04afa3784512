"""The trust directory's life: root, issue, publish, rotate with overlap, revoke, passphrase."""

from __future__ import annotations

import json
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from events.credentials import RegionCredentials
from events.directory_admin import DirectoryAdmin
from events.keystore import KeyStore, KeyStoreError, read_private_key
from events.models import EventType
from events.outbox import signed_envelope
from events.rejections import Rejected, RejectReason
from events.signing import RegionSigner
from events.verify import VerifyLimits, verify_record
from regions.keys_cli import app
from tests.unit.conftest import NOW

CASE = "350000-20261127-ABCDEFGH"


def _admin(folder: Path, passphrase: bytes | None = None) -> DirectoryAdmin:
    admin = DirectoryAdmin(KeyStore(folder, passphrase))
    admin.init_root()
    for code, name in (("350000", "福建省"), ("440000", "广东省")):
        admin.issue(code, name, None, validity=timedelta(days=30), now=NOW - timedelta(days=1))
    admin.publish(NOW - timedelta(days=1))
    return admin


def _withdrawal(creds: RegionCredentials, at: datetime = NOW) -> bytes:
    return signed_envelope(
        creds.signer(at),
        event_type=EventType.WITHDRAWN,
        case_no=CASE,
        step="withdrawn",
        recipient="440000",
        data={"case_no": CASE, "reason": "申请人撤回"},
        now=at,
    ).to_wire()


def _verify(raw: bytes, store: KeyStore, at: datetime = NOW) -> str:
    return verify_record(
        raw, recipient="440000", directory=store.directory(), now=at, limits=VerifyLimits()
    ).keyid


def test_private_keys_are_owner_only_and_edits_wait_for_publish(tmp_path: Path) -> None:
    admin = _admin(tmp_path)
    keys = list(tmp_path.rglob("*.key"))
    assert len(keys) == 5  # root + signing and sealing of two regions
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    with pytest.raises(KeyStoreError, match="already exists"):
        admin.init_root()

    admin.issue("110000", "北京市", None, validity=timedelta(days=30), now=NOW)
    assert admin.store.directory().region("110000") is None  # a draft until published
    assert admin.publish(NOW).version == 2
    assert admin.store.directory().region("110000") is not None


def test_rotation_switches_signing_and_keeps_the_old_key_for_the_overlap_only(
    tmp_path: Path,
) -> None:
    admin = _admin(tmp_path)
    fujian = RegionCredentials(admin.store, "350000")
    before = _withdrawal(fujian)
    old_key = fujian.signer(NOW).key_id

    new = admin.rotate("350000", overlap=timedelta(days=2), validity=timedelta(days=30), now=NOW)
    admin.publish(NOW)

    assert fujian.signer(NOW).key_id == new.key_id != old_key  # picked up without restart
    assert _verify(before, admin.store) == old_key  # in flight during the overlap: still good
    # The old key used after its overlap ended (a leaked key, say): refused.
    old_private = read_private_key(tmp_path / "regions" / "350000" / f"signing-{old_key}.key", None)
    assert isinstance(old_private, Ed25519PrivateKey)
    later = NOW + timedelta(days=3)
    stale = signed_envelope(
        RegionSigner("350000", old_key, old_private),
        event_type=EventType.WITHDRAWN,
        case_no=CASE,
        step="withdrawn-late",
        recipient="440000",
        data={"case_no": CASE, "reason": "申请人撤回"},
        now=later,
    ).to_wire()
    with pytest.raises(Rejected) as late:
        _verify(stale, admin.store, later)
    assert late.value.reason is RejectReason.KEY_EXPIRED
    entry = admin.store.directory().region("350000")
    assert entry is not None
    old = next(k for k in entry.signing_keys if k.key_id == old_key)
    assert old.not_after == NOW + timedelta(days=2)


def test_a_revoked_key_is_refused_once_published(tmp_path: Path) -> None:
    admin = _admin(tmp_path)
    fujian = RegionCredentials(admin.store, "350000")
    raw = _withdrawal(fujian)
    admin.revoke("350000", fujian.signer(NOW).key_id)
    assert _verify(raw, admin.store)  # still good: the revocation is only a draft
    admin.publish(NOW)
    with pytest.raises(Rejected) as refused:
        _verify(raw, admin.store)
    assert refused.value.reason is RejectReason.KEY_REVOKED
    with pytest.raises(KeyStoreError):
        admin.revoke("350000", "no-such-key")


def test_passphrase_protected_keys_need_the_passphrase(tmp_path: Path) -> None:
    admin = _admin(tmp_path, b"correct horse")
    key_file = next((tmp_path / "regions" / "350000").glob("signing-*.key"))
    assert b"ENCRYPTED" in key_file.read_bytes()
    good = RegionCredentials(admin.store, "350000")
    assert good.signer(NOW).region == "350000"
    with pytest.raises(TypeError):
        RegionCredentials(KeyStore(tmp_path), "350000").signer(NOW)


def test_the_keys_command_runs_the_whole_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    folder = ["--trust-dir", str(tmp_path)]
    secret = ["--passphrase-env", "TB_TEST_PASSPHRASE"]

    assert runner.invoke(app, ["init-root", *folder, *secret]).exit_code != 0  # variable unset
    monkeypatch.setenv("TB_TEST_PASSPHRASE", "s3cret")
    for args in (
        ["init-root"],
        ["issue", "--region", "350000"],
        ["issue", "--region", "440000"],
        ["publish"],
        ["rotate", "--region", "440000", "--overlap-days", "1"],
        ["publish"],
    ):
        result = runner.invoke(app, [*args, *folder, *secret])
        assert result.exit_code == 0, result.output
    shown = json.loads(runner.invoke(app, ["show", "--json", *folder]).output)
    assert shown["version"] == 2
    guangdong = next(r for r in shown["regions"] if r["code"] == "440000")
    assert guangdong["signing_keys"][0]["key_id"] != guangdong["signing_keys"][1]["key_id"]
    old_id = guangdong["signing_keys"][0]["key_id"]
    revoke = ["revoke", "--region", "440000", "--key-id", old_id, *folder, *secret]
    assert runner.invoke(app, revoke).exit_code == 0
    assert runner.invoke(app, ["publish", *folder, *secret]).exit_code == 0
    shown = json.loads(runner.invoke(app, ["show", "--json", *folder]).output)
    guangdong = next(r for r in shown["regions"] if r["code"] == "440000")
    assert [k["revoked"] for k in guangdong["signing_keys"]] == [True, False]
    assert "s3cret" not in (tmp_path / "root.key").read_text()
