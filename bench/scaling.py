"""How throughput and memory grow with worker processes per region and with regions.

Workers: one full node per region plus 0, 1 or 3 worker-only processes (`TONGBAN_NODE_ROLE=
worker`) on the same task queue. Regions: one full node per region and cases between random
pairs of them, every region both accepting and processing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from rich.console import Console

from bench.pair_run import (
    AUTOMATIC,
    AUTOMATIC_ENV,
    PairUnderTest,
    bench_application,
    paced,
    run_pair,
)
from bench.processes import peak_rss_mb
from bench.stats import Latency
from deploy.stack import manager
from deploy.stack.settings import StackSettings
from regions.codes import REGIONS
from regions.local import ensure_local_keys, local_node_settings
from regions.node import NodeServices, node_services
from regions.node_process import NodeProcess, spawn_node, wait_until_polling
from regions.window import submit_case

PROVINCES = [code for code, region in REGIONS.items() if region.parent is None]


async def with_extra_workers(
    pair: PairUnderTest, extra: int, stack: StackSettings, *, cases: int
) -> dict[str, Any]:
    log_dir = stack.state_dir / "bench-nodes"
    workers: list[NodeProcess] = [
        spawn_node(
            region,
            log_dir,
            {**AUTOMATIC_ENV, "TONGBAN_NODE_ROLE": "worker"},
            label=f"worker{i}",
        )
        for region in (pair.origin, pair.processing)
        for i in range(extra)
    ]
    try:
        clients = {pair.origin: pair.services.client, pair.processing: pair.processing_client}
        for worker in workers:
            await wait_until_polling(clients[worker.region], worker)
        result = await run_pair(pair, cases=cases, rate=None)
        processes = [*pair.nodes, *workers]
        return {
            "worker_processes_per_region": extra + 1,
            "cases_per_s": round(result.throughput, 2),
            "end_to_end_p50_ms": round(result.latency["end_to_end"].p50_ms),
            "end_to_end_p99_ms": round(result.latency["end_to_end"].p99_ms),
            "rss_mb_per_process": {
                f"{p.region}#{p.process.pid}": round(peak_rss_mb(p.process.pid), 1)
                for p in processes
            },
        }
    finally:
        for worker in workers:
            worker.stop()


@contextlib.asynccontextmanager
async def region_mesh(
    count: int,
) -> AsyncIterator[tuple[dict[str, NodeServices], list[NodeProcess]]]:
    chosen = ["350000", "440000", *[c for c in PROVINCES if c not in ("350000", "440000")]][:count]
    stack = StackSettings(regions=tuple(chosen))
    endpoints = await manager.up(stack)
    ensure_local_keys(stack, stack.regions)
    log_dir = stack.state_dir / "bench-nodes"
    nodes = [spawn_node(region, log_dir, AUTOMATIC_ENV) for region in chosen]
    async with contextlib.AsyncExitStack() as exits:
        try:
            services: dict[str, NodeServices] = {}
            for node in nodes:
                services[node.region] = await exits.enter_async_context(
                    node_services(local_node_settings(node.region, stack, endpoints))
                )
            for node in nodes:
                # The services' own client, connected as the node connects.
                await wait_until_polling(services[node.region].client, node, timeout=180)
            yield services, nodes
        finally:
            for node in nodes:
                node.stop()


async def across_regions(count: int, *, cases: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    async with region_mesh(count) as (services, nodes):
        regions = list(services)
        pairs = [tuple(rng.sample(regions, 2)) for _ in range(cases)]
        latencies: list[float] = []

        async def one(i: int) -> None:
            origin, processing = pairs[i]
            began = time.monotonic()
            handle = await submit_case(
                pool=services[origin].pool,
                client=services[origin].client,
                credentials=services[origin].credentials,
                application=bench_application(i).model_copy(
                    update={"processing_region": processing}
                ),
                policies=AUTOMATIC,
            )
            await handle.result()
            latencies.append(time.monotonic() - began)

        began = time.monotonic()
        await paced(cases, None, 64, one)
        duration = time.monotonic() - began
        rss = [peak_rss_mb(n.process.pid) for n in nodes]
        end_to_end = Latency.of(latencies)
        return {
            "regions": count,
            "cases": cases,
            "cases_per_s": round(cases / duration, 2),
            "end_to_end_p50_ms": round(end_to_end.p50_ms),
            "end_to_end_p99_ms": round(end_to_end.p99_ms),
            "node_rss_mb_max": round(max(rss), 1),
            "node_rss_mb_total": round(sum(rss), 1),
        }


async def run_scaling(
    workers: list[int], regions: list[int], cases: int, pair_factory: Any, console: Console
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {"workers": [], "regions": []}
    if workers:
        async with pair_factory() as pair:
            for count in workers:
                row = await with_extra_workers(pair, count - 1, StackSettings(), cases=cases)
                results["workers"].append(row)
                console.print(row)
    for count in regions:
        row = await across_regions(count, cases=cases)
        results["regions"].append(row)
        console.print(row)
        await asyncio.sleep(1.0)  # let the previous mesh's consumers leave their groups
    return results
