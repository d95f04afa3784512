"""The trust directory in force: no rollback, no silent expiry, no exception per record.

Each test has its own trust folder (root, 福建 and 广东) and a node-side `RegionCredentials`
with a fake clock, so reloads, expiry and the log's rate limit are driven by the test.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events.credentials import DirectoryFloor, RegionCredentials
from events.directory_admin import DirectoryAdmin
from events.keystore import KeyStore, read_private_key
from events.models import EventType
from events.outbox import signed_envelope
from events.rejections import Rejected, RejectReason
from events.trust import DirectoryError, TrustDirectory, load_directory
from events.verify import VerifyLimits, verifier_for
from tests.unit.conftest import NOW

CASE = "350000-20261127-ABCDEFGH"


@dataclass
class Clock:
    wall: datetime = NOW
    mono: float = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@dataclass
class Trust:
    admin: DirectoryAdmin
    clock: Clock

    @property
    def store(self) -> KeyStore:
        return self.admin.store

    def publish(self, validity: timedelta = timedelta(days=30)) -> TrustDirectory:
        return self.admin.publish(self.clock.wall, validity)

    def node(self, floor: DirectoryFloor | None = None) -> RegionCredentials:
        return RegionCredentials(
            self.store,
            "440000",
            floor=floor or DirectoryFloor(),
            recheck_s=1.0,
            monotonic=lambda: self.clock.mono,
            wall_clock=lambda: self.clock.wall,
        )

    def withdrawal(self) -> bytes:
        """A valid record from 福建 to 广东, signed now."""
        fujian = RegionCredentials(self.store, "350000")
        return signed_envelope(
            fujian.signer(self.clock.wall),
            event_type=EventType.WITHDRAWN,
            case_no=CASE,
            step=f"withdrawn-{self.clock.mono}",
            recipient="440000",
            data={"case_no": CASE, "reason": "申请人撤回"},
            now=self.clock.wall,
        ).to_wire()

    def verify_with(self, node: RegionCredentials, raw: bytes) -> str:
        # The verifier as the node builds it (regions/node.py), with the test's clock.
        verify = verifier_for(
            "440000", node.verifying_directory, VerifyLimits(max_age=timedelta(days=3650))
        )
        return verify(raw).id


@pytest.fixture
def trust(tmp_path: Path) -> Trust:
    admin = DirectoryAdmin(KeyStore(tmp_path))
    admin.init_root()
    for code, name in (("350000", "福建省"), ("440000", "广东省")):
        admin.issue(code, name, None, validity=timedelta(days=365), now=NOW - timedelta(days=1))
    admin.publish(NOW - timedelta(days=1))
    return Trust(admin, Clock())


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]


# Rollback


def test_an_older_file_is_refused_while_running_and_the_newer_stays(
    trust: Trust, caplog: pytest.LogCaptureFixture
) -> None:
    old_bytes = trust.store.directory_path.read_bytes()
    node = trust.node()
    assert node.directory().version == 1
    assert trust.publish().version == 2
    trust.clock.advance(1)
    assert node.directory().version == 2

    trust.store.directory_path.write_bytes(old_bytes)  # a validly signed, older directory
    trust.clock.advance(1)
    with caplog.at_level(logging.ERROR):
        assert node.directory().version == 2
        trust.clock.advance(1)
        assert node.directory().version == 2
    assert len(_refusals(caplog)) == 1, "one log line per change of the file, not per look"
    assert "older than version 2" in _refusals(caplog)[0]


def test_after_a_restart_the_floor_bars_an_older_file_and_its_copy_stays_in_force(
    trust: Trust,
) -> None:
    old_bytes = trust.store.directory_path.read_bytes()
    newer = trust.publish()
    trust.store.directory_path.write_bytes(old_bytes)

    restarted = trust.node(DirectoryFloor(newer.version, newer))
    assert restarted.directory() == newer

    # The stored copy no longer verifies (say, a new root): the version alone still bars it.
    with pytest.raises(DirectoryError, match=r"older than version 2.*rollback"):
        trust.node(DirectoryFloor(newer.version, None)).directory()


def test_a_file_as_new_as_the_floor_or_newer_wins_over_the_stored_copy(trust: Trust) -> None:
    stored = trust.store.directory()
    newer = trust.publish()
    assert trust.node(DirectoryFloor(stored.version, stored)).directory() == newer
    assert trust.node(DirectoryFloor(newer.version, stored)).directory() == newer


# Expiry


def test_past_valid_until_every_inbound_record_is_refused_as_directory_expired(
    trust: Trust, caplog: pytest.LogCaptureFixture
) -> None:
    trust.publish(validity=timedelta(hours=1))
    node = trust.node()
    raw = trust.withdrawal()
    assert trust.verify_with(node, raw)

    trust.clock.advance(3600)
    with caplog.at_level(logging.ERROR), pytest.raises(Rejected) as refused:
        trust.verify_with(node, raw)
    assert refused.value.reason is RejectReason.DIRECTORY_EXPIRED
    assert "expired at" in refused.value.detail
    # Signing and audits still read the directory; only inbound trust is refused.
    assert node.directory().version == 2

    # Loud, but not one line per record: a flood logs once a minute.
    for _ in range(50):
        with pytest.raises(Rejected):
            trust.verify_with(node, raw)
    expired_lines = [r for r in caplog.records if "directory-expired" in r.getMessage()]
    assert len(expired_lines) == 1
    trust.clock.advance(61)
    with caplog.at_level(logging.ERROR), pytest.raises(Rejected):
        trust.verify_with(node, raw)
    assert len([r for r in caplog.records if "directory-expired" in r.getMessage()]) == 2

    # A new publication (picked up within the recheck interval) ends it.
    trust.publish()
    trust.clock.advance(1)
    assert node.expiry_problem() is None
    assert trust.verify_with(node, trust.withdrawal())


def test_a_directory_without_valid_until_is_treated_as_expired(trust: Trust) -> None:
    root = read_private_key(trust.admin.root_key_path, None)
    assert isinstance(root, Ed25519PrivateKey)
    legacy = (
        trust.store.directory()
        .model_copy(update={"version": 2, "valid_until": None})
        .signed_by("root-1", root)
    )
    trust.store.write_directory(legacy)
    assert "valid_until" not in json.loads(legacy.model_dump_json(exclude_none=True))
    node = trust.node()
    assert node.directory().version == 2  # it verifies (older releases published these) ...
    problem = node.expiry_problem()
    assert problem is not None
    assert "no valid_until" in problem
    with pytest.raises(Rejected) as refused:  # ... but vouches for nothing
        node.verifying_directory()
    assert refused.value.reason is RejectReason.DIRECTORY_EXPIRED


def test_publish_sets_valid_until_and_bootstrap_renews_a_stale_directory(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    regions: dict[str, tuple[str, str | None]] = {"350000": ("福建省", None)}
    first = store.bootstrap(regions, validity=timedelta(days=365), now=NOW)
    assert first.valid_until == NOW + timedelta(days=30)
    assert (
        store.bootstrap(regions, validity=timedelta(days=365), now=NOW + timedelta(days=10))
        == first
    )
    renewed = store.bootstrap(regions, validity=timedelta(days=365), now=NOW + timedelta(days=20))
    assert (renewed.version, renewed.valid_until) == (2, NOW + timedelta(days=50))

    published = DirectoryAdmin(store).publish(NOW, timedelta(days=7))
    assert published.valid_until == NOW + timedelta(days=7)
    with pytest.raises(Exception, match="valid for some time"):
        DirectoryAdmin(store).publish(NOW, timedelta(0))


# Root key id


def test_a_directory_naming_another_root_is_refused(trust: Trust) -> None:
    root = read_private_key(trust.admin.root_key_path, None)
    assert isinstance(root, Ed25519PrivateKey)
    other_id = trust.store.directory().model_copy(update={"version": 2}).signed_by("root-2", root)
    document = other_id.model_dump_json().encode()
    with pytest.raises(DirectoryError, match="names root 'root-2', this node pins 'root-1'"):
        load_directory(document, trust.store.pinned_root())
    # A node configured to pin root-2 accepts the same bytes.
    assert load_directory(document, trust.store.pinned_root(), "root-2").version == 2
    pinned_elsewhere = KeyStore(trust.store.folder, root_key_id="root-2")
    with pytest.raises(DirectoryError, match="names root 'root-1'"):
        pinned_elsewhere.directory()


# A bad file


def _forged(document: bytes) -> bytes:
    body = json.loads(document)
    body["version"] += 5  # a higher version, but the root never signed it
    return json.dumps(body).encode()


def _other_root(trust: Trust) -> bytes:
    unsigned = trust.store.directory().model_copy(update={"version": 9})
    return unsigned.signed_by("root-1", Ed25519PrivateKey.generate()).model_dump_json().encode()


BAD_FILES: dict[str, Callable[[Trust, bytes], bytes]] = {
    "truncated": lambda t, d: d[: len(d) // 2],
    "not json": lambda t, d: b"\xff\xfe garbage",
    "empty": lambda t, d: b"",
    "deeply nested": lambda t, d: b"[" * 100_000 + b"]" * 100_000,
    "forged": lambda t, d: _forged(d),
    "signed by another root key": lambda t, d: _other_root(t),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_leaves_the_directory_in_force_and_records_still_verify(
    name: str, trust: Trust, caplog: pytest.LogCaptureFixture
) -> None:
    node = trust.node()
    assert node.directory().version == 1
    raw = trust.withdrawal()
    path = trust.store.directory_path
    path.write_bytes(BAD_FILES[name](trust, path.read_bytes()))
    trust.clock.advance(1)
    with caplog.at_level(logging.ERROR):
        for _ in range(20):
            assert trust.verify_with(node, raw)  # no exception, per record or otherwise
    assert node.directory().version == 1
    assert len(_refusals(caplog)) == 1


def test_a_deleted_file_keeps_the_directory_in_force(trust: Trust) -> None:
    node = trust.node()
    node.directory()
    trust.store.directory_path.unlink()
    trust.clock.advance(1)
    assert node.directory().version == 1


def test_with_no_acceptable_directory_at_all_the_node_refuses_to_start(trust: Trust) -> None:
    trust.store.directory_path.write_bytes(b"{")
    with pytest.raises(DirectoryError, match="no trust directory can be put in force"):
        trust.node().directory()


# Throttle


def test_the_file_is_looked_at_no_more_than_once_per_interval(
    trust: Trust, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = trust.node()
    node.directory()
    looks: list[object] = []
    real_stat = os.stat

    def counting_stat(path: Path) -> os.stat_result:
        if path == trust.store.directory_path:
            looks.append(path)
        return real_stat(path)

    trust.publish()
    raw = trust.withdrawal()
    monkeypatch.setattr("events.credentials.os.stat", counting_stat)
    for _ in range(100):
        trust.verify_with(node, raw)
    assert looks == []
    assert node.directory().version == 1
    trust.clock.advance(1)
    trust.verify_with(node, raw)
    assert len(looks) == 1
    assert node.directory().version == 2
