"""Several regions' nodes in one process (decision 0047): `tongban node run --region A
--region B …`. Each region keeps all of its own (its lock and API port, database pool, Temporal
client and worker, Kafka consumer group and producer, relay, resender, loops and keys); they
share the interpreter, its imports and the event loop, so a hosting centre or a test bed pays
the ≈ 130 MB of imports once per process instead of once per region.

Fail-fast, as a node of one region (decision 0033): every region's lock and port are taken
before any region connects, so a region that cannot have them stops the process before it
starts; once running, a region that fails (a part of it stopped, a service refused it at
start) stops the other regions of the process gracefully and the process exits non-zero,
naming the region, for its supervisor to restart all of them from their durable state. No
region runs on alone, and none is left silently stopped beside the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from regions.api.ports import api_port
from regions.api.server import bind_api_socket
from regions.node import run_region
from regions.node_lock import NodeCannotStart, region_lock
from regions.node_memory import STATUS, vm_rss_kib
from regions.node_settings import NodeSettings
from regions.region_context import CURRENT_REGION
from regions.telemetry import configure, host_config

log = logging.getLogger(__name__)

# One region's run until its own stop event: regions.node.run_region with its socket bound.
RegionRun = Callable[[asyncio.Event], Awaitable[None]]


class RegionFailed(RuntimeError):
    """A region hosted with others stopped on its own; the others were stopped with it."""

    def __init__(self, region: str) -> None:
        super().__init__(f"region {region} stopped on its own; the process stopped its others")
        self.region = region


def check_regions(regions: Sequence[str]) -> None:
    """Refuse what cannot be hosted together: no region, or one named twice."""
    if not regions:
        raise NodeCannotStart("no region to run: name one or more with --region")
    twice = sorted({r for r in regions if regions.count(r) > 1})
    if twice:
        raise NodeCannotStart(f"region {', '.join(twice)} named more than once")


def check_ports(addresses: Mapping[str, tuple[str, int]]) -> None:
    """Refuse two full regions of the process on one API address. Binding alone would not: the
    sockets are bound before they listen, and Linux lets two bound, not yet listening sockets
    with SO_REUSEADDR share a port, so the second would fail only once serving (decision 0033
    wants it refused at start)."""
    seen: dict[tuple[str, int], str] = {}
    for region, address in addresses.items():
        other = seen.setdefault(address, region)
        if other != region:
            host, port = address
            raise NodeCannotStart(
                f"window API of {region}: port {port} on {host} is region {other}'s in this"
                " process: give each region its own port (TONGBAN_NODE_API_PORT_BASE, not"
                " TONGBAN_NODE_API_PORT)"
            )


async def supervise_regions(runs: Mapping[str, RegionRun], stop: asyncio.Event) -> None:
    """Run every region until `stop` or until one of them ends; then stop all of them and wait
    for each to finish its graceful stop. The first region to end (with an error, or on its
    own) is raised: its own exception, so the exit code says what it was (decision 0033)."""
    stops = {region: asyncio.Event() for region in runs}
    tasks: dict[str, asyncio.Task[None]] = {}
    for region, run in runs.items():
        context = contextvars.copy_context()
        context.run(CURRENT_REGION.set, region)  # logs and spans of its tasks name it
        tasks[region] = asyncio.create_task(
            _run(run, stops[region]), name=f"region-{region}", context=context
        )
    stop_task = asyncio.create_task(stop.wait(), name="stop")
    first: str | None = None
    try:
        done, _ = await asyncio.wait(
            [stop_task, *tasks.values()], return_when=asyncio.FIRST_COMPLETED
        )
        ended = [r for r, t in tasks.items() if t in done]
        if ended:
            first = ended[0]
            others = [r for r in runs if r != first]
            log.error(
                "region %s stopped%s: stopping the other regions of this process (%s)",
                first,
                _why(tasks[first]),
                ", ".join(others) or "none",
            )
    finally:
        for event in stops.values():
            event.set()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        stop_task.cancel()
        await asyncio.gather(stop_task, return_exceptions=True)
    for region, task in tasks.items():
        failure = task.exception() if not task.cancelled() else None
        if region != first and failure is not None:
            log.error("region %s failed while stopping: %r", region, failure)
    if first is not None:
        task = tasks[first]
        failure = task.exception() if not task.cancelled() else None
        raise failure if failure is not None else RegionFailed(first)


async def _run(run: RegionRun, stop: asyncio.Event) -> None:
    await run(stop)


def _why(task: asyncio.Task[None]) -> str:
    if task.cancelled():
        return " (cancelled)"
    failure = task.exception()
    return f" on {type(failure).__name__}: {failure}" if failure is not None else " on its own"


async def run_regions(
    settings: Sequence[NodeSettings], stop: asyncio.Event, *, lock_dir: Path | None = None
) -> None:
    """Host every region of `settings` in this process until `stop`. First, for each full
    region, its lock and its API port (as `run_node` does for one), all before any region
    connects; then telemetry once for the process; then the regions, side by side."""
    check_regions([s.region for s in settings])
    check_ports({s.region: (s.api_host, api_port(s)) for s in settings if s.role != "worker"})
    with contextlib.ExitStack() as held:
        sockets: dict[str, socket.socket | None] = {}
        for one in settings:
            sockets[one.region] = None
            if one.role == "worker":
                continue
            if lock_dir is not None:
                held.enter_context(region_lock(lock_dir, one.region))
            sockets[one.region] = held.enter_context(bind_api_socket(one))
        first = settings[0]
        configure(
            host_config(
                [s.region for s in settings],
                first.otlp_endpoint,
                first.trace_file,
                first.metric_interval_s,
            )
        )
        log.info(
            "hosting %d regions (%s); before any region %.1f MB",
            len(settings),
            ", ".join(s.region for s in settings),
            vm_rss_kib(STATUS.read_text()) / 1024,
        )

        def runner(one: NodeSettings) -> RegionRun:
            return lambda region_stop: run_region(one, region_stop, sockets[one.region])

        await supervise_regions({s.region: runner(s) for s in settings}, stop)
