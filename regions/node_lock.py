"""One full node per region on a machine (decision 0033): an fcntl lock on a file per region,
held for the node's life and released by the kernel when the process ends, however it ends
(kill -9 included), so a restarted node never finds a stale lock.

Worker-only processes (`TONGBAN_NODE_ROLE=worker`) take no lock: a region may have any number
of them beside its one full node.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class NodeCannotStart(Exception):
    """A part of the node cannot start; the message names it and what to do."""


class NodeAlreadyRunning(NodeCannotStart):
    def __init__(self, region: str, pid: int | None, path: Path) -> None:
        holder = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"a node of region {region} already runs on this machine ({holder}, lock {path}):"
            " use it, or stop it before starting another"
        )
        self.region = region
        self.pid = pid


def lock_path(lock_dir: Path, region: str) -> Path:
    return lock_dir / f"node-{region}.lock"


def _pid_in(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextmanager
def region_lock(lock_dir: Path, region: str) -> Iterator[Path]:
    """Hold the region's lock until the block ends; NodeAlreadyRunning if another holds it."""
    path = lock_path(lock_dir, region)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NodeAlreadyRunning(region, _pid_in(path), path) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # releases the lock


def running_node(lock_dir: Path, region: str) -> int | None:
    """The pid of the region's full node on this machine (0 when it cannot be read), or None
    when there is none: a probe that takes the lock for a moment when it is free."""
    path = lock_path(lock_dir, region)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid_in(path) or 0
        return None
    finally:
        os.close(fd)
