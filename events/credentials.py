"""A node's view of its own keys and of the trust directory in force.

The directory file is read again when it changes, so a rotated key or a newly joined region is
picked up by a running node without a restart. What goes into force is guarded (decision 0017):
- a file that does not load (malformed, truncated, forged, signed by another root) is refused
  and the directory in force stays; logged and counted once per change of the file, never
  raised per record;
- a version lower than the one in force, or than the floor (the newest this node accepted
  before, kept in its database: events/directory_floor.py), is a rollback and refused the same
  way; at start the floor's own copy is put in force instead;
- past its `valid_until`, `directory()` still answers (signing, sealing, audits), but
  `verifying_directory()`, the one inbound verification uses, refuses every record with
  `directory-expired`, and says so in the log at most once a minute.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from events import instruments
from events.keystore import KeyStore, KeyStoreError
from events.rejections import Rejected, RejectReason
from events.signing import RegionSigner
from events.trust import DirectoryError, TrustDirectory

log = logging.getLogger(__name__)

_EXPIRED_LOG_EVERY_S = 60.0
# What a directory file can fail with: unreadable, malformed, forged, or a broken root.pub.
_UNLOADABLE = (DirectoryError, KeyStoreError, OSError, ValueError)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DirectoryFloor:
    """The newest directory this node accepted before, as its database holds it."""

    version: int = 0
    # None when nothing is stored, or the stored copy no longer verifies (a new root):
    # then only its version still bars older files.
    directory: TrustDirectory | None = None


@dataclass
class RegionCredentials:
    store: KeyStore
    region: str
    floor: DirectoryFloor = field(default_factory=DirectoryFloor)
    # Seconds between looks at the directory file. The node sets 1 s so that a flood of
    # records costs no stat() each; tools and tests see a new publication at once.
    recheck_s: float = 0.0
    monotonic: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], datetime] = _utc_now
    _directory: TrustDirectory | None = field(default=None, init=False)
    _file_stamp: tuple[int, int, int] | None = field(default=None, init=False)
    _next_check: float = field(default=float("-inf"), init=False)
    _expired_logged_at: float | None = field(default=None, init=False)

    @property
    def directory_path(self) -> Path:
        return self.store.directory_path

    def directory(self) -> TrustDirectory:
        """The directory in force, expired or not. Raises DirectoryError only when there has
        never been one: neither the file nor the floor holds a directory that verifies."""
        if self._directory is None:
            self._directory = self._first_directory()
        elif self.monotonic() >= self._next_check:
            self._reload_if_changed(self._directory)
        return self._directory

    def verifying_directory(self) -> TrustDirectory:
        """The directory in force for verifying an inbound record; once it has expired, a
        `directory-expired` rejection instead (the bridge quarantines the record)."""
        directory = self.directory()
        problem = self.expiry_problem()
        if problem is not None:
            instruments.directory_expired_refusals.add(1, {"region": self.region})
            raise Rejected(RejectReason.DIRECTORY_EXPIRED, problem)
        return directory

    def expiry_problem(self) -> str | None:
        """Why the directory in force cannot verify records now (logged loudly, at most once a
        minute), or None while it is valid."""
        problem = self.directory().expiry_problem(self.wall_clock())
        if problem is None:
            self._expired_logged_at = None
            return None
        now = self.monotonic()
        if self._expired_logged_at is None or now - self._expired_logged_at >= _EXPIRED_LOG_EVERY_S:
            self._expired_logged_at = now
            log.error(
                "node %s: %s; every inbound record is quarantined as directory-expired until a"
                " newer directory is published (tongban keys publish)",
                self.region,
                problem,
            )
        return problem

    def signer(self, at: datetime) -> RegionSigner:
        return self.store.signer(self.region, self.directory(), at)

    def own_sealing_key(self, key_id: str) -> X25519PrivateKey:
        return self.store.sealing_private(self.region, key_id)

    def _stamp(self) -> tuple[int, int, int] | None:
        # Size and inode besides the time: a file copied in by hand changes more than once.
        try:
            found = os.stat(self.directory_path)
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size, found.st_ino

    def _load_file(self) -> TrustDirectory | str:
        try:
            return self.store.directory()
        except _UNLOADABLE as exc:
            return str(exc) or type(exc).__name__

    def _first_directory(self) -> TrustDirectory:
        self._file_stamp = self._stamp()
        self._next_check = self.monotonic() + self.recheck_s
        loaded = self._load_file()
        floor = self.floor
        if isinstance(loaded, TrustDirectory) and loaded.version >= floor.version:
            return loaded
        why = (
            loaded
            if isinstance(loaded, str)
            else f"its version {loaded.version} is older than version {floor.version},"
            " which this node accepted before (a rollback)"
        )
        if floor.directory is None:
            raise DirectoryError(
                f"node {self.region}: no trust directory can be put in force:"
                f" {self.directory_path} is refused ({why}); publish a newer version"
            )
        self._refused("invalid" if isinstance(loaded, str) else "rollback", why, floor.directory)
        return floor.directory

    def _reload_if_changed(self, current: TrustDirectory) -> None:
        self._next_check = self.monotonic() + self.recheck_s
        stamp = self._stamp()
        if stamp == self._file_stamp:
            return
        self._file_stamp = stamp
        loaded = self._load_file()
        if isinstance(loaded, str):
            self._refused("invalid", loaded, current)
            return
        lowest = max(current.version, self.floor.version)
        if loaded.version < lowest:
            self._refused(
                "rollback", f"its version {loaded.version} is older than version {lowest}", current
            )
            return
        if loaded.version != current.version:
            log.info(
                "node %s: trust directory v%d in force (was v%d)",
                self.region,
                loaded.version,
                current.version,
            )
        self._directory = loaded

    def _refused(self, reason: str, why: str, kept: TrustDirectory) -> None:
        instruments.directory_refused.add(1, {"region": self.region, "reason": reason})
        log.error(
            "node %s: trust directory file %s refused (%s); v%d stays in force",
            self.region,
            self.directory_path,
            why,
            kept.version,
        )
