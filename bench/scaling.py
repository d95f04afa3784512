"""How throughput and memory grow with worker processes per region and with regions.

Workers: one full node per region plus 0, 1 or 3 worker-only processes (`TONGBAN_NODE_ROLE=
worker`) on the same task queue. Regions: cases between random pairs of N regions, every region
both accepting and processing, each region a full node of its own or, with `per_process` K
(decision 0047), the regions hosted K to a process, grouped as `bench idle` groups them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from rich.console import Console

from bench.hop_parts import HopSamples, hop_samples
from bench.idle import host_name, hosts
from bench.pair_run import (
    AUTOMATIC,
    AUTOMATIC_ENV,
    PairUnderTest,
    bench_application,
    paced,
    run_pair,
)
from bench.processes import peak_rss_mb
from bench.ratios import region_points, region_ratio_lines
from bench.stats import Latency
from deploy.stack import manager
from deploy.stack.settings import StackSettings
from regions.codes import REGIONS
from regions.local import ensure_local_keys, local_node_settings
from regions.node import NodeServices, node_services
from regions.node_process import NodeProcess, spawn_host, spawn_node, wait_until_polling
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
    count: int, per_process: int = 1
) -> AsyncIterator[tuple[dict[str, NodeServices], list[NodeProcess]]]:
    """`count` regions, `per_process` of them to a node process (1: a node each, as always)."""
    chosen = ["350000", "440000", *[c for c in PROVINCES if c not in ("350000", "440000")]][:count]
    stack = StackSettings(regions=tuple(chosen))
    endpoints = await manager.up(stack)
    ensure_local_keys(stack, stack.regions)
    log_dir = stack.state_dir / "bench-nodes"
    nodes = [spawn_host(group, log_dir, AUTOMATIC_ENV) for group in hosts(chosen, per_process)]
    async with contextlib.AsyncExitStack() as exits:
        try:
            services: dict[str, NodeServices] = {}
            for region in chosen:
                services[region] = await exits.enter_async_context(
                    node_services(local_node_settings(region, stack, endpoints))
                )
            for node in nodes:
                for region in node.regions:
                    # The services' own client, connected as the node connects.
                    await wait_until_polling(
                        services[region].client, node, timeout=300, region=region
                    )
            yield services, nodes
        finally:
            for node in nodes:
                node.stop()


async def across_regions(
    count: int, *, cases: int, per_process: int = 1, seed: int = 7
) -> dict[str, Any]:
    rng = random.Random(seed)
    async with region_mesh(count, per_process) as (services, nodes):
        regions = list(services)
        pairs = [tuple(rng.sample(regions, 2)) for _ in range(cases)]
        latencies: list[float] = []
        case_nos: dict[tuple[str, str], list[str]] = {}

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
            case_nos.setdefault((origin, processing), []).append(handle.id.removeprefix("intake-"))
            await handle.result()
            latencies.append(time.monotonic() - began)

        began = time.monotonic()
        await paced(cases, None, 64, one)
        duration = time.monotonic() - began
        rss = {host_name(n.regions): peak_rss_mb(n.process.pid) for n in nodes}
        end_to_end = Latency.of(latencies)
        hops = HopSamples()
        for (origin, processing), of_pair in case_nos.items():
            await hop_samples(
                services[origin].pool,
                services[processing].pool,
                origin,
                processing,
                of_pair,
                hops,
            )
        parts = hops.summary()
        return {
            "regions": count,
            "per_process": min(per_process, count),
            "processes": len(nodes),
            "cases": cases,
            "cases_per_s": round(cases / duration, 2),
            "end_to_end_p50_ms": round(end_to_end.p50_ms),
            "end_to_end_p99_ms": round(end_to_end.p99_ms),
            "node_rss_mb_max": round(max(rss.values()), 1),
            "node_rss_mb_total": round(sum(rss.values()), 1),
            "node_rss_mb": {name: round(mb, 1) for name, mb in rss.items()},
            # B's decision step to A's workflow in parts, p50/p99 ms (bench/hop_parts.py)
            "hop_parts_p50_p99_ms": {
                name: [round(v.p50_ms), round(v.p99_ms)] for name, v in parts.parts.items()
            }
            if parts
            else {},
            "hop_polls_per_step": round(parts.polls_per_step, 2) if parts else None,
        }


async def run_scaling(
    workers: list[int],
    regions: list[int],
    cases: int,
    pair_factory: Any,
    console: Console,
    per_process: Sequence[int] = (1,),
) -> dict[str, Any]:
    results: dict[str, Any] = {"workers": [], "regions": []}
    if workers:
        async with pair_factory() as pair:
            for count in workers:
                row = await with_extra_workers(pair, count - 1, StackSettings(), cases=cases)
                results["workers"].append(row)
                console.print(row)
    for count, each in region_points(regions, per_process):
        row = await across_regions(count, cases=cases, per_process=each)
        results["regions"].append(row)
        console.print(row)
        await asyncio.sleep(1.0)  # let the previous mesh's consumers leave their groups
    lines = region_ratio_lines(results["regions"])
    if lines:
        console.rule("targets (printed, not asserted)")
    for line in lines:
        console.print(line)
    results["targets"] = lines
    return results
