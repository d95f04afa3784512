"""Cost per case: CPU seconds of every process involved, Temporal RPCs and Postgres
transactions, over exactly a measured window, divided by the cases completed in it (issue 22).

CPU comes from /proc (`bench/proc_cpu.py`): the Temporal dev server, Kafka's JVM, the
Postgres postmaster with all its backends, each node's process tree and this process, the
load generator (the window's intake for tongban, the baseline's workers for the baseline).
RPCs are the Temporal frontend's own `service_requests` counter, scraped from the dev server's
Prometheus endpoint (`start-dev` always serves one, on a free port it picks), for the region
namespaces: every call the nodes, the load generator and the baseline make, long polls
included. Transactions are `xact_commit + xact_rollback` of the region databases in
`pg_stat_database`; a backend reports them when it goes idle, at most once a second, so each
edge of the window may be off by up to a second of transactions.

Counters are read before the CPU at the start and after it at the end, so what reading them
costs (a 1.5 MB metrics page rendered, a query) stays outside the CPU window.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from bench.proc_cpu import PROC, process_cpu_s, tree_cpu_s

TEMPORAL, KAFKA, POSTGRES, LOAD = "temporal", "kafka", "postgres", "load generator"
# The baseline runs on the Temporal server and in the load generator only: its cost is theirs.
BASELINE_GROUPS = (TEMPORAL, LOAD)
TARGET_CPU_RATIO = 1.25
_SAMPLE = re.compile(r"^service_requests\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def node_group(region: str) -> str:
    return f"node {region}"


@dataclass(frozen=True)
class Reading:
    """Counters at one edge of a window."""

    at: float  # time.monotonic()
    cpu_s: dict[str, float]
    rpcs: dict[str, float] | None  # frontend requests by operation; None: no metrics endpoint
    xacts: int | None


@dataclass(frozen=True)
class CaseCost:
    """What one measured run cost, in total and per completed case."""

    cases: int
    window_s: float
    cpu_s: dict[str, float]
    cpu_s_per_case: dict[str, float]
    rpcs_per_case: float | None
    rpcs_per_case_by_operation: dict[str, float] = field(default_factory=dict)
    xacts_per_case: float | None = None

    def cpu_s_per_case_of(self, groups: Iterable[str] | None = None) -> float:
        """CPU seconds per case summed over `groups` (default: every process measured)."""
        chosen = self.cpu_s_per_case if groups is None else groups
        return sum(self.cpu_s_per_case.get(g, 0.0) for g in chosen)


def case_cost(before: Reading, after: Reading, cases: int) -> CaseCost:
    """The differences of two readings, per case. Zero cases give no per-case figures."""
    cpu = {g: after.cpu_s[g] - before.cpu_s[g] for g in before.cpu_s if g in after.cpu_s}
    per = 1 / cases if cases else 0.0
    rpcs: dict[str, float] = {}
    if before.rpcs is not None and after.rpcs is not None:
        rpcs = {
            op: (n - before.rpcs.get(op, 0.0)) * per
            for op, n in after.rpcs.items()
            if n > before.rpcs.get(op, 0.0)
        }
    rpcs_known = before.rpcs is not None and after.rpcs is not None and cases > 0
    return CaseCost(
        cases=cases,
        window_s=after.at - before.at,
        cpu_s=cpu,
        cpu_s_per_case={g: s / cases for g, s in cpu.items()} if cases else {},
        rpcs_per_case=sum(rpcs.values()) if rpcs_known else None,
        rpcs_per_case_by_operation=dict(sorted(rpcs.items(), key=lambda kv: -kv[1])),
        xacts_per_case=_difference(before.xacts, after.xacts, cases),
    )


def _difference(before: int | None, after: int | None, cases: int) -> float | None:
    if before is None or after is None or not cases:
        return None
    return (after - before) / cases


def cpu_ratio(ours: CaseCost, baseline: CaseCost) -> float | None:
    """Every process's CPU per case for tongban over the baseline's own (Temporal + load
    generator); None when the baseline completed no case or used no measurable CPU."""
    base = baseline.cpu_s_per_case_of(BASELINE_GROUPS)
    return ours.cpu_s_per_case_of() / base if baseline.cases and base > 0 else None


def frontend_requests(metrics: str, namespaces: Iterable[str]) -> dict[str, float]:
    """`service_requests` of the frontend for `namespaces`, summed by operation, from a
    Prometheus text page (the RPCs clients made: one sample per operation and namespace).
    The server's reporter writes label values with `-` as `_` (`region_350000`)."""
    wanted = {n.replace("-", "_") for n in namespaces}
    by_operation: dict[str, float] = {}
    for line in metrics.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        namespace = labels.get("namespace", "").replace("-", "_")
        if labels.get("service_name") != "frontend" or namespace not in wanted:
            continue
        operation = labels.get("operation", "?")
        by_operation[operation] = by_operation.get(operation, 0.0) + float(match["value"])
    return by_operation


def listening_ports(tcp_tables: Iterable[str], socket_inodes: set[str]) -> list[int]:
    """Ports in LISTEN state (0A) among /proc/net/tcp{,6} rows whose socket a process holds."""
    ports = set()
    for table in tcp_tables:
        for row in table.splitlines()[1:]:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in socket_inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def _socket_inodes(pid: int, proc: Path) -> set[str]:
    inodes = set()
    for fd in (proc / str(pid) / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed since it was listed
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


async def metrics_url(temporal_pid: int, proc: Path = PROC) -> str | None:
    """The dev server's /metrics URL: the one port it listens on that serves the counter."""
    tables = [(proc / "net" / name).read_text() for name in ("tcp", "tcp6")]
    ports = listening_ports(tables, _socket_inodes(temporal_pid, proc))
    async with httpx.AsyncClient(timeout=5.0) as http:
        for port in ports:
            url = f"http://127.0.0.1:{port}/metrics"
            try:
                response = await http.get(url)
            except httpx.HTTPError:
                continue  # gRPC and the other internal ports do not speak HTTP/1
            if response.status_code == 200 and "service_requests{" in response.text:
                return url
    return None


def stack_pids() -> dict[str, int]:
    """Pids of the local stack's services that `tongban stack up` started and that still run
    as started (the cluster profile's services are not measured)."""
    from deploy.stack.manager import StackState
    from deploy.stack.processes import still_ours
    from deploy.stack.settings import StackSettings

    services = StackState.load(StackSettings().stack_file).services
    return {
        name: record.pid
        for name, record in services.items()
        if name in (TEMPORAL, KAFKA, POSTGRES) and still_ours(record)
    }


def _maintenance_dsn(region_dsn: str) -> str:
    """The server's `postgres` database: reading statistics there adds no transaction to a
    region's count."""
    return urlunsplit(urlsplit(region_dsn)._replace(path="/postgres"))


@dataclass
class CostMeter:
    """Reads every counter at a window's edges; one per benchmark, shared by its runs."""

    cpu: dict[str, Callable[[], float]]
    namespaces: tuple[str, ...]
    databases: tuple[str, ...]
    metrics: str | None
    db: asyncpg.Connection  # held open: a connection made per reading would start a backend

    @classmethod
    async def open(
        cls,
        *,
        stack_pids: Mapping[str, int],
        node_pids: Mapping[str, int],
        namespaces: tuple[str, ...],
        region_dsns: tuple[str, ...],
    ) -> CostMeter:
        """`stack_pids` by group (temporal, kafka, postgres), `node_pids` by region."""
        own = os.getpid()
        cpu: dict[str, Callable[[], float]] = {
            name: partial(tree_cpu_s, pid) for name, pid in stack_pids.items()
        }
        for region, pid in node_pids.items():
            cpu[node_group(region)] = partial(tree_cpu_s, pid)
        # Own time only: the nodes are this process's children and are counted above.
        cpu[LOAD] = partial(process_cpu_s, own)
        temporal = stack_pids.get(TEMPORAL)
        url = await metrics_url(temporal) if temporal is not None else None
        return cls(
            cpu=cpu,
            namespaces=namespaces,
            databases=tuple(urlsplit(d).path.lstrip("/") for d in region_dsns),
            metrics=url,
            db=await asyncpg.connect(_maintenance_dsn(region_dsns[0])),
        )

    async def close(self) -> None:
        await self.db.close()

    def _cpu(self) -> dict[str, float]:
        return {name: read() for name, read in self.cpu.items()}

    async def _rpcs(self) -> dict[str, float] | None:
        if self.metrics is None:
            return None
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.get(self.metrics)
        response.raise_for_status()
        return frontend_requests(response.text, self.namespaces)

    async def _xacts(self) -> int:
        total = await self.db.fetchval(
            "SELECT coalesce(sum(xact_commit + xact_rollback), 0)::bigint"
            " FROM pg_stat_database WHERE datname = ANY($1::text[])",
            list(self.databases),
        )
        return int(total)

    async def begin(self) -> Reading:
        rpcs, xacts = await self._rpcs(), await self._xacts()
        return Reading(at=time.monotonic(), cpu_s=self._cpu(), rpcs=rpcs, xacts=xacts)

    async def end(self, began: Reading, cases: int) -> CaseCost:
        at, cpu = time.monotonic(), self._cpu()
        after = Reading(at=at, cpu_s=cpu, rpcs=await self._rpcs(), xacts=await self._xacts())
        return case_cost(began, after, cases)
