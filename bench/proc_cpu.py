"""CPU time of processes and process trees, read from Linux /proc.

A process's `utime + stime` (fields 14 and 15 of /proc/<pid>/stat) covers all its threads.
`cutime + cstime` (16 and 17) hold what its children used, but only once it has waited for
them (reaped them). A tree's CPU is therefore the sum over its live members of all four: a
child that exits and is reaped between two readings moves its whole time from its own line
into its parent's `cutime/cstime`, so a difference of two readings counts it exactly once —
also a child that starts and ends between them (Postgres backends come and go that way; a
zombie not yet reaped still shows its own times). The one inexactness: /proc is read one
process at a time, so a child reaped in the milliseconds while its tree is being read can be
missed or counted twice. The nodes' and the load generator's connections are pooled, so
Postgres backends mostly live through a whole window; autovacuum workers are the ones that
come and go.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat a CPU figure needs, times in clock ticks."""

    pid: int
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int

    @property
    def own_ticks(self) -> int:
        return self.utime + self.stime

    @property
    def with_reaped_children_ticks(self) -> int:
        return self.utime + self.stime + self.cutime + self.cstime


def parse_stat(line: str) -> ProcStat:
    """One /proc/<pid>/stat line. The command name (field 2) is parenthesised and may itself
    contain spaces and parentheses, so the fields after it are counted from its last `)`."""
    head, _, tail = line.rpartition(")")
    if not head:
        raise ValueError("not a /proc/<pid>/stat line")
    pid = int(head.split("(", 1)[0])
    fields = tail.split()  # fields[0] is field 3 (state)
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        utime=int(fields[11]),
        stime=int(fields[12]),
        cutime=int(fields[13]),
        cstime=int(fields[14]),
    )


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """None when the process is gone (it may have exited since it was listed)."""
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def all_stats(proc: Path = PROC) -> list[ProcStat]:
    stats = []
    for entry in proc.iterdir():
        if entry.name.isdigit() and (stat := read_stat(int(entry.name), proc)) is not None:
            stats.append(stat)
    return stats


def tree_ticks(root: int, stats: Iterable[ProcStat]) -> int:
    """CPU ticks of `root` and its live descendants, each with the children it has reaped."""
    by_parent: dict[int, list[ProcStat]] = {}
    by_pid: dict[int, ProcStat] = {}
    for stat in stats:
        by_parent.setdefault(stat.ppid, []).append(stat)
        by_pid[stat.pid] = stat
    if root not in by_pid:
        raise ProcessLookupError(root)
    total, todo = 0, [by_pid[root]]
    while todo:
        stat = todo.pop()
        total += stat.with_reaped_children_ticks
        todo.extend(by_parent.get(stat.pid, []))
    return total


def process_cpu_s(pid: int, proc: Path = PROC) -> float:
    """One process's own CPU seconds (all its threads), not its children's."""
    stat = read_stat(pid, proc)
    if stat is None:
        raise ProcessLookupError(pid)
    return stat.own_ticks / CLOCK_TICKS


def cpu_s(pids: Iterable[int], proc: Path = PROC) -> float:
    """Own CPU seconds of several processes together."""
    return sum(process_cpu_s(pid, proc) for pid in pids)


def tree_cpu_s(root: int, proc: Path = PROC) -> float:
    return tree_ticks(root, all_stats(proc)) / CLOCK_TICKS
