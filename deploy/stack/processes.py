"""Detached service processes: start, recognise again later, stop, wait for readiness.

Linux only (reads /proc): the local stack is a developer and CI convenience.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Handles of children started by this interpreter. Keeping them referenced stops Popen's
# finaliser from warning about a still-running child: these children are meant to outlive us.
_children: list[subprocess.Popen[bytes]] = []


class ServiceStartError(RuntimeError):
    def __init__(self, service: str, reason: str, log_tail: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason
        self.log_tail = log_tail


@dataclass(frozen=True)
class ProcessRecord:
    """What `down` needs to recognise a process it started, even after a reboot reused its pid."""

    pid: int
    cmdline: tuple[str, ...]
    started_at: str
    boot_ticks: int | None
    log: str

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "cmdline": list(self.cmdline),
            "started_at": self.started_at,
            "boot_ticks": self.boot_ticks,
            "log": self.log,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(
            pid=int(data["pid"]),
            cmdline=tuple(data["cmdline"]),
            started_at=str(data["started_at"]),
            boot_ticks=data.get("boot_ticks"),
            log=str(data["log"]),
        )


@dataclass
class Started:
    record: ProcessRecord
    popen: subprocess.Popen[bytes]

    def exited(self) -> int | None:
        return self.popen.poll()


def start_detached(
    cmd: Sequence[str],
    log_path: Path,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Started:
    """Start `cmd` in its own session so it survives the CLI and ignores the CLI's Ctrl-C."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children.append(popen)
    record = ProcessRecord(
        pid=popen.pid,
        cmdline=tuple(cmd),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        boot_ticks=_start_ticks(popen.pid),
        log=str(log_path),
    )
    return Started(record=record, popen=popen)


def _start_ticks(pid: int) -> int | None:
    """Process start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is parenthesised and may contain spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def _started_at(pid: int) -> str:
    """Wall-clock start of a running process: boot time plus its start ticks."""
    ticks = _start_ticks(pid)
    try:
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration):
        ticks = None
    if ticks is None:
        return datetime.now(UTC).isoformat(timespec="seconds")
    seconds = boot + ticks / os.sysconf("SC_CLK_TCK")
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def still_ours(record: ProcessRecord) -> bool:
    """True if the recorded pid is still the very process that was started."""
    if not is_alive(record.pid):
        return False
    if _cmdline(record.pid) != record.cmdline:
        return False
    return record.boot_ticks is None or _start_ticks(record.pid) == record.boot_ticks


def stop_process(record: ProcessRecord, *, timeout_s: float = 20.0) -> bool:
    """SIGTERM, wait, then SIGKILL. Returns False when the pid is no longer ours to signal."""
    if not still_ours(record):
        return False
    _signal_group(record.pid, signal.SIGTERM)
    if _wait_gone(record.pid, timeout_s):
        return True
    _signal_group(record.pid, signal.SIGKILL)
    _wait_gone(record.pid, 5.0)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The service leads its own session (start_new_session), so its group id is its pid
    # and any helper children it spawned get the signal too.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_alive(pid):
            return True
        time.sleep(0.2)
    return not is_alive(pid)


def _reap(pid: int) -> None:
    # When the process is our own child (stopped by the interpreter that started it, as in
    # tests), collect its exit status so it does not linger as a zombie.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return


async def wait_until(
    probe: Callable[[], Awaitable[bool]],
    *,
    timeout_s: float,
    interval_s: float = 0.5,
    started: Started | None = None,
) -> bool:
    """Poll `probe` until it answers True; give up early if the started process exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await probe():
            return True
        if started is not None and started.exited() is not None:
            return False
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval_s)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc.strerror})"
    return "\n".join(text.splitlines()[-lines:])


def record_existing(pid: int, log: Path) -> ProcessRecord | None:
    """A record for a process someone else launched for us (pg_ctl starts the postmaster)."""
    cmdline = _cmdline(pid)
    if cmdline is None:
        return None
    return ProcessRecord(
        pid=pid,
        cmdline=cmdline,
        started_at=_started_at(pid),
        boot_ticks=_start_ticks(pid),
        log=str(log),
    )
