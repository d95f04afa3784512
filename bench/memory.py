"""Memory with many open cases: each node's RSS while N cases wait for B's decision."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from rich.console import Console

from bench.pair_run import PairUnderTest, bench_application, paced
from bench.processes import peak_rss_mb, rss_mb
from deploy.stack.temporal import binary
from regions.naming import namespace
from regions.policies import AUTOMATIC, CasePolicies
from regions.window import submit_case

TARGET_RSS_MB = 400.0
OPEN_QUERY = "WorkflowType = 'ProcessingWorkflow' AND ExecutionStatus = 'Running'"
# B decides nothing by itself: every case stays open in both regions until terminated.
WAITING = CasePolicies(default=AUTOMATIC.model_copy(update={"decision": "manual"}))

PairFactory = Callable[[dict[str, str] | None], AbstractAsyncContextManager[PairUnderTest]]


def _terminate_open(pair: PairUnderTest, address: str) -> None:
    for region, query in (
        (pair.processing, OPEN_QUERY),
        (pair.origin, OPEN_QUERY.replace("Processing", "Intake")),
    ):
        subprocess.run(
            [
                str(binary()),
                "workflow",
                "terminate",
                "--address",
                address,
                "--namespace",
                namespace(region),
                "--query",
                query,
                "--reason",
                "benchmark cleanup",
                "--yes",
            ],
            check=False,
            capture_output=True,
        )


async def _open_count(pair: PairUnderTest) -> int:
    return (await pair.processing_client.count_workflows(OPEN_QUERY)).count


async def _until_open(pair: PairUnderTest, level: int) -> None:
    # Visibility is polled: there is no event to wait on for "B has started N workflows".
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if await _open_count(pair) >= level:
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"fewer than {level} cases open after 30 minutes")


async def run_memory(
    levels: list[int], running_pair: PairFactory, console: Console
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    async with running_pair({"TONGBAN_NODE_POLICIES": WAITING.model_dump_json()}) as pair:
        address = pair.services.client.service_client.config.target_host
        _terminate_open(pair, address)  # leftovers of an earlier run would be counted
        opened = 0

        async def one(i: int) -> None:
            await submit_case(
                pool=pair.services.pool,
                client=pair.services.client,
                credentials=pair.services.credentials,
                policies=WAITING,
                application=bench_application(i),
            )

        try:
            for level in levels:
                began = time.monotonic()
                await paced(level - opened, None, 64, one)
                opened = level
                await _until_open(pair, level)
                await asyncio.sleep(5.0)  # let the last activities and polls settle
                row: dict[str, Any] = {
                    "open_cases": level,
                    "seconds_to_open": round(time.monotonic() - began, 1),
                    "nodes": {
                        node.region: {
                            "rss_mb": round(rss_mb(node.process.pid), 1),
                            "peak_rss_mb": round(peak_rss_mb(node.process.pid), 1),
                        }
                        for node in pair.nodes
                    },
                }
                results.append(row)
                console.print(row)
        finally:
            _terminate_open(pair, address)
    if len(results) >= 2:
        first, last = results[0], results[-1]
        for region in last["nodes"]:
            before, after = first["nodes"][region]["rss_mb"], last["nodes"][region]["rss_mb"]
            verdict = "met" if after <= TARGET_RSS_MB else "MISSED"
            console.print(
                f"node {region}: {before} MB at {first['open_cases']} open, {after} MB at"
                f" {last['open_cases']} (+{after - before:.1f} MB);"
                f" target ≤ {TARGET_RSS_MB:.0f} MB: {verdict}"
            )
    return results
