"""What idle nodes cost (issue 22 item 3): N full nodes with no cases, each node's CPU as a
share of one core and its resident memory, and the shared stack's CPU (Temporal dev server,
Kafka, the Postgres postmaster with its backends) over the same window, all read from /proc.

Before any node starts, the stack alone is measured over one window of the same length: what
N nodes cost the shared services is the difference. Memory per part comes from two places:
each node's own log line (regions/node_memory.py: RSS growth as it builds and starts its
parts) and a fresh interpreter importing each part's modules in the order the node needs
them (what importing a part adds on top of the parts before it).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.proc_cpu import CLOCK_TICKS, ProcStat, all_stats, tree_ticks
from regions.node_memory import BEFORE_PARTS, parse_growth_line

TARGET_NODE_CPU_PERCENT = 1.0
TARGET_TOTAL_RSS_GB = 2.2  # half of the 4.4 GB 34 nodes held before issue 22
SETTLE_S = 10.0

# Modules each part of a node needs first, in the order a node builds its parts; a part's
# import figure is what it adds on top of the parts above it (shared libraries count once,
# for the first part that needs them).
IMPORTS_BY_PART: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Temporal worker, workflows, activities", ("workflows.registry", "activities.registry")),
    ("documents (reportlab, pyhanko, QR)", ("documents.render", "documents.sign")),
    ("bridge, relay, resender (aiokafka)", ("events.bridge", "events.relay", "events.resend")),
    ("API (FastAPI, uvicorn)", ("regions.api.server",)),
    ("the rest of regions.node", ("regions.node",)),
)


def cpu_percent_of_core(ticks: int, window_s: float, clock_ticks: int = CLOCK_TICKS) -> float:
    """CPU ticks used over a window, as a percentage of one core."""
    return 100.0 * ticks / clock_ticks / window_s


def ticks_by_root(roots: Mapping[str, int], stats: Sequence[ProcStat]) -> dict[str, int]:
    """Each named root's tree ticks in one /proc snapshot (a root that is gone is left out)."""
    ticks = {}
    for name, pid in roots.items():
        try:
            ticks[name] = tree_ticks(pid, stats)
        except ProcessLookupError:
            continue
    return ticks


def window_percent(
    before: Mapping[str, int], after: Mapping[str, int], window_s: float
) -> dict[str, float]:
    """Percent of a core per name present at both edges of the window."""
    return {
        name: cpu_percent_of_core(after[name] - before[name], window_s)
        for name in before
        if name in after
    }


def postgres_group(title: str) -> str:
    """A Postgres backend's database from its process title (`postgres: user db host state`);
    the server's own processes (checkpointer, walwriter, autovacuum, ...) are `server`."""
    words = title.replace("\x00", " ").split()
    if len(words) >= 4 and words[0] == "postgres:" and ("(" in words[3] or words[3] == "[local]"):
        return words[2]
    return "server"


def children_by_group(
    parent: int, stats: Sequence[ProcStat], title_of: Callable[[int], str]
) -> dict[int, tuple[str, int]]:
    """The parent's direct children: pid → (group of its title, own and reaped ticks)."""
    return {
        s.pid: (postgres_group(title_of(s.pid)), s.with_reaped_children_ticks)
        for s in stats
        if s.ppid == parent
    }


def ticks_by_group(
    before: Mapping[int, tuple[str, int]], after: Mapping[int, tuple[str, int]]
) -> dict[str, int]:
    """Ticks per group over a window: a child alive at both edges counts its difference, one
    that started within the window all its ticks; one that ended is not seen here (its time
    moved into the parent's reaped children)."""
    groups: dict[str, int] = {}
    for pid, (group, ticks) in after.items():
        used = ticks - before[pid][1] if pid in before else ticks
        groups[group] = groups.get(group, 0) + used
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]))


def process_title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def pss_kib(smaps_rollup: str) -> int:
    """Pss (kB) from the text of /proc/<pid>/smaps_rollup: resident pages with each shared
    page divided among the processes that map it, so a sum over processes counts it once."""
    for line in smaps_rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise ValueError("no Pss line in the smaps_rollup text")


def pss_mb(pid: int) -> float:
    return pss_kib(Path(f"/proc/{pid}/smaps_rollup").read_text()) / 1024


def mean_by_part(lines: Iterable[str]) -> dict[str, float]:
    """Mean MB per part over every node's `memory by part` line among `lines` (parts in the
    order the first line names them)."""
    sums: dict[str, list[float]] = {}
    for line in lines:
        parsed = parse_growth_line(line)
        if parsed is None:
            continue
        for part, mib in parsed[1].items():
            sums.setdefault(part, []).append(mib)
    return {part: statistics.fmean(values) for part, values in sums.items()}


def target_lines(
    node_cpu: Sequence[float], regions: int, total_rss_mb: float, processes: int | None = None
) -> list[str]:
    """The printed targets. `node_cpu`: per region (a process hosting several regions counts
    its CPU over them evenly); `processes`: how many processes held the regions (default one
    each, the lines as before decision 0047)."""
    processes = regions if processes is None else processes
    hosted = processes != regions
    what = "idle region CPU (per process / its regions)" if hosted else "idle node CPU"
    lines = [
        f"{what} (mean/max): {statistics.fmean(node_cpu):.2f} % / {max(node_cpu):.2f} %"
        f" of a core (target < {TARGET_NODE_CPU_PERCENT:.0f} %)"
    ]
    held = f"idle regions in {processes} processes" if hosted else "idle nodes"
    label = f"{regions} {held} total RSS: {total_rss_mb / 1024:.2f} GB"
    if regions == 34:
        label += f" (target ≤ {TARGET_TOTAL_RSS_GB} GB)"
    return [*lines, label]


def hosts(regions: Sequence[str], per_process: int) -> list[tuple[str, ...]]:
    """The regions in groups of `per_process`, one group a process (the last may be short)."""
    if per_process < 1:
        raise ValueError("per_process must be at least 1")
    return [tuple(regions[i : i + per_process]) for i in range(0, len(regions), per_process)]


def host_name(regions: Sequence[str]) -> str:
    """A process's key in the figures: its region, or `first+n` when it hosts several."""
    return regions[0] if len(regions) == 1 else f"{regions[0]}+{len(regions) - 1}"


@dataclass(frozen=True)
class IdleRun:
    """One measured window. Per-node figures are keyed by process (`host_name`): a region, or
    `first+n` for a process hosting n + 1 regions (`per_process` > 1, decision 0047)."""

    label: str
    regions: int
    window_s: float
    node_cpu_percent: dict[str, float]
    node_rss_mb: dict[str, float]
    node_pss_mb: dict[str, float]
    stack_cpu_percent: dict[str, float]
    stack_alone_cpu_percent: dict[str, float]
    memory_by_part_mb: dict[str, float]
    postgres_cpu_percent_by_database: dict[str, float]
    per_process: int = 1
    # Regions each process hosted, by process; a process not named hosted one.
    hosted: dict[str, int] = field(default_factory=dict)

    @property
    def total_rss_mb(self) -> float:
        return sum(self.node_rss_mb.values())

    @property
    def processes(self) -> int:
        return len(self.node_rss_mb)

    def region_cpu_percent(self) -> list[float]:
        """Each region's share of its process's CPU (the process's CPU over its regions)."""
        shares: list[float] = []
        for name, percent in self.node_cpu_percent.items():
            hosted = self.hosted.get(name, 1)
            shares += [percent / hosted] * hosted
        return shares

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "total_rss_mb": round(self.total_rss_mb, 1)}


def idle_table(run: IdleRun) -> Any:
    """One run as a table: the nodes' CPU and memory, the stack's CPU beside it alone."""
    from rich.table import Table

    cpu, rss = list(run.node_cpu_percent.values()), list(run.node_rss_mb.values())
    held = (
        f"idle regions, {run.per_process} a process ({run.processes} processes)"
        if run.per_process > 1
        else "idle nodes"
    )
    table = Table(title=f"{run.label}: {run.regions} {held} over {run.window_s:.0f} s")
    table.add_column("what")
    table.add_column("figure", justify="right")
    node = "process" if run.per_process > 1 else "node"
    table.add_row(f"{node} CPU, % of a core (mean)", f"{statistics.fmean(cpu):.2f}")
    table.add_row(f"{node} CPU, % of a core (max)", f"{max(cpu):.2f}")
    table.add_row(f"{node} CPU, % of a core (sum)", f"{sum(cpu):.2f}")
    table.add_row(f"{node} RSS, MB (mean)", f"{statistics.fmean(rss):.1f}")
    table.add_row(f"{node} RSS, MB (max)", f"{max(rss):.1f}")
    table.add_row(f"{node} RSS, MB (total)", f"{sum(rss):.1f}")
    table.add_row(
        f"{node} PSS, MB (total: shared pages once)", f"{sum(run.node_pss_mb.values()):.1f}"
    )
    if run.per_process > 1:
        table.add_row("RSS per region, MB (total / regions)", f"{sum(rss) / run.regions:.1f}")
    for service, percent in run.stack_cpu_percent.items():
        alone = run.stack_alone_cpu_percent.get(service)
        was = f" (alone {alone:.2f})" if alone is not None else ""
        table.add_row(f"{service} CPU, % of a core", f"{percent:.2f}{was}")
    for group, percent in list(run.postgres_cpu_percent_by_database.items())[:6]:
        table.add_row(f"  postgres backends of {group}, % of a core", f"{percent:.2f}")
    for part, mib in run.memory_by_part_mb.items():
        figure = f"{mib:.1f}" if part in (BEFORE_PARTS, "total") else f"{mib:+.1f}"
        table.add_row(f"memory by part (node log, mean MB): {part}", figure)
    return table


def import_growth(python: str, env: Mapping[str, str]) -> dict[str, float]:
    """MB of RSS a fresh interpreter grows by importing each part's modules in order, with
    `interpreter` first (what `python -c` holds before any of them)."""
    script = (
        "import json, sys, importlib\n"
        "def rss():\n"
        "    for l in open('/proc/self/status'):\n"
        "        if l.startswith('VmRSS:'): return int(l.split()[1])\n"
        "out = [('interpreter', rss())]\n"
        f"for part, modules in {IMPORTS_BY_PART!r}:\n"
        "    for m in modules: importlib.import_module(m)\n"
        "    out.append((part, rss()))\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [python, "-c", script], env=dict(env), capture_output=True, text=True, check=True
    )
    marks: list[tuple[str, int]] = [tuple(m) for m in json.loads(done.stdout.splitlines()[-1])]
    growth, previous = {}, 0
    for part, kib in marks:
        growth[part] = (kib - previous) / 1024
        previous = kib
    return growth


async def run_idle(
    counts: Sequence[int],
    seconds: float,
    *,
    node_path: Path | None,
    label: str,
    console: Any,
    per_process: Sequence[int] = (1,),
) -> list[IdleRun]:
    """Each count of regions at each `per_process` (regions a process hosts, decision 0047)."""
    import os

    from bench.cost import stack_pids
    from bench.scaling import PROVINCES
    from deploy.stack import manager
    from deploy.stack.settings import StackSettings
    from regions.local import ensure_local_keys

    env = {"PYTHONPATH": str(node_path)} if node_path is not None else {}
    growth = import_growth(sys.executable, {**os.environ, **env})
    console.print("import growth by part, fresh interpreter (MB, each on top of those above):")
    for part, mib in growth.items():
        console.print(f"  {part}: {mib:+.1f}")

    chosen_all = ["350000", "440000", *[c for c in PROVINCES if c not in ("350000", "440000")]]
    stack = StackSettings(regions=tuple(chosen_all[: max(counts)]))
    endpoints = await manager.up(stack)
    ensure_local_keys(stack, stack.regions)
    services = stack_pids()

    # The stack alone, before any node of this benchmark runs.
    alone_before = ticks_by_root(services, all_stats())
    began = time.monotonic()
    await asyncio.sleep(seconds)
    alone_after = ticks_by_root(services, all_stats())
    alone = window_percent(alone_before, alone_after, time.monotonic() - began)
    console.print(
        "stack alone, % of a core: " + ", ".join(f"{k} {v:.2f}" for k, v in alone.items())
    )

    runs: list[IdleRun] = []
    for count, each in [(c, k) for c in counts for k in per_process]:
        regions = chosen_all[:count]
        run = await _idle_window(
            stack, endpoints, services, alone, regions, each, seconds, env, label, console
        )
        runs.append(run)
        console.print(idle_table(run))
        for line in target_lines(run.region_cpu_percent(), count, run.total_rss_mb, run.processes):
            console.print(line)
        await asyncio.sleep(2.0)  # let the stopped nodes' consumers leave their groups
    return runs


async def _idle_window(
    stack: Any,
    endpoints: Any,
    services: Mapping[str, int],
    alone: dict[str, float],
    regions: Sequence[str],
    per_process: int,
    seconds: float,
    env: Mapping[str, str],
    label: str,
    console: Any,
) -> IdleRun:
    from bench.processes import rss_mb
    from regions.local import local_node_settings
    from regions.node import connect_as_node
    from regions.node_process import spawn_host, wait_until_polling

    count = len(regions)
    log_dir = stack.state_dir / "bench-idle" / f"{label}-{count}x{per_process}-{int(time.time())}"
    nodes = {host_name(g): spawn_host(g, log_dir, dict(env)) for g in hosts(regions, per_process)}
    try:
        began = time.monotonic()
        for node in nodes.values():
            for region in node.regions:
                settings = local_node_settings(region, stack, endpoints)
                client = await connect_as_node(settings)
                await wait_until_polling(client, node, timeout=300, region=region)
        console.print(
            f"{count} regions in {len(nodes)} processes polling after"
            f" {time.monotonic() - began:.0f} s"
        )
        await asyncio.sleep(SETTLE_S)
        roots = {**services, **{name: n.process.pid for name, n in nodes.items()}}
        postmaster = services.get("postgres", -1)
        stats = all_stats()
        before = ticks_by_root(roots, stats)
        backends_before = children_by_group(postmaster, stats, process_title)
        began = time.monotonic()
        await asyncio.sleep(seconds)
        stats = all_stats()
        after = ticks_by_root(roots, stats)
        backends_after = children_by_group(postmaster, stats, process_title)
        window = time.monotonic() - began
        percent = window_percent(before, after, window)
        rss = {name: rss_mb(n.process.pid) for name, n in nodes.items()}
        pss = {name: pss_mb(n.process.pid) for name, n in nodes.items()}
    finally:
        for node in nodes.values():
            node.stop()
    lines = [
        line for n in nodes.values() for line in n.log_path.read_text(errors="replace").splitlines()
    ]
    return IdleRun(
        label=label,
        regions=count,
        window_s=round(window, 2),
        node_cpu_percent={name: percent[name] for name in nodes if name in percent},
        node_rss_mb=rss,
        node_pss_mb=pss,
        stack_cpu_percent={s: percent[s] for s in services if s in percent},
        stack_alone_cpu_percent=alone,
        memory_by_part_mb=mean_by_part(lines),
        postgres_cpu_percent_by_database={
            group: cpu_percent_of_core(ticks, window)
            for group, ticks in ticks_by_group(backends_before, backends_after).items()
        },
        per_process=per_process,
        hosted={name: len(n.regions) for name, n in nodes.items()},
    )
