"""Where a node's CPU goes: `py-spy record` of each node process during a max-rate run, and
the functions that took the most of it.

py-spy samples only threads that are running (not idle, not waiting on a socket), so each
share below is a share of the node's CPU, not of wall time.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FunctionShare:
    function: str  # "name (file)" as py-spy names it, the line dropped
    percent: float


@dataclass(frozen=True)
class ProfileSummary:
    samples: int
    self_time: list[FunctionShare]  # the function itself was running
    self_by_package: list[FunctionShare]  # the package whose code was running
    by_task: list[FunctionShare]  # what the event loop or a pool thread was running
    project_inclusive: list[FunctionShare]  # tongban's own functions anywhere on the stack


# Frames that hand control to one unit of work: after them comes an asyncio callback or task
# step, or a function run in a thread pool (the workflow activations, sync activities).
_DISPATCH = ("Handle._run", "_WorkItem.run")
PROJECT = ("regions", "events", "activities", "workflows", "documents", "effects", "catalog")
_ENTRY = "regions/cli.py"  # the node's command line: on every stack, so it says nothing


def py_spy() -> str | None:
    """py-spy beside the running interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def _path(frame: str) -> str:
    _, _, where = frame.partition(" (")
    return where.rstrip(")").rsplit(":", 1)[0]


def _function(frame: str) -> str:
    """`name (pkg/file.py:12)` → `name (file.py)`: one entry per function, not per line."""
    name, _, where = frame.partition(" (")
    if not where:
        return frame
    return f"{name} ({_path(frame).rsplit('/', 1)[-1]})"


def _package(frame: str) -> str:
    """py-spy names files relative to their sys.path entry: the first part is the package
    (`asyncio/events.py` → asyncio), a bare module is itself (`selectors.py` → selectors)."""
    path = _path(frame)
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")


def _task(frames: list[str]) -> str:
    after = [i + 1 for i, f in enumerate(frames) if f.split(" (", 1)[0] in _DISPATCH]
    index = after[-1] if after and after[-1] < len(frames) else len(frames) - 1
    return _function(frames[index])


def summarise(collapsed: Iterable[str], top: int = 12) -> ProfileSummary:
    """Shares of the samples from py-spy's raw (collapsed stack) output: one stack per line,
    frames root first separated by `;`, then a space and the sample count."""
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("self", "package", "task", "project")}
    samples = 0
    for line in collapsed:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f]
        samples += n
        counts["self"][_function(frames[-1])] += n
        counts["package"][_package(frames[-1])] += n
        counts["task"][_task(frames)] += n
        # Root first, each once (a recursive function counts once per sample), so ties
        # rank the caller first.
        own = dict.fromkeys(
            _function(f) for f in frames if _package(f) in PROJECT and _path(f) != _ENTRY
        )
        for function in own:
            counts["project"][function] += n

    def shares(kind: str) -> list[FunctionShare]:
        return [FunctionShare(f, 100 * n / samples) for f, n in counts[kind].most_common(top)]

    if not samples:
        return ProfileSummary(0, [], [], [], [])
    return ProfileSummary(
        samples, shares("self"), shares("package"), shares("task"), shares("project")
    )


async def record(binary: str, pid: int, seconds: float, out: Path) -> Path:
    """Sample `pid` for `seconds` at 100 Hz without stopping it; collapsed stacks to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "100",
        "--nonblocking",
        "--function",
        "--format",
        "raw",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"py-spy on pid {pid}: {err.decode(errors='replace')[-500:]}")
    return out


def render(summary: ProfileSummary, title: str) -> str:
    lines = [f"{title}: {summary.samples} samples"]
    for heading, shares in (
        ("running (self)", summary.self_time),
        ("package running", summary.self_by_package),
        ("task or pool job", summary.by_task),
        ("tongban functions on the stack", summary.project_inclusive),
    ):
        lines.append(f"  {heading}:")
        lines += [f"    {s.percent:5.1f} %  {s.function}" for s in shares]
    return "\n".join(lines)
