"""Memory with many open cases: each node's RSS while N cases wait for B's decision."""

from __future__ import annotations

import asyncio
import functools
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
from regions.window import Application, material_ref, submit_case

TARGET_RSS_MB = 400.0
OPEN_QUERY = "WorkflowType = 'ProcessingWorkflow' AND ExecutionStatus = 'Running'"
# B decides nothing by itself: every case stays open in both regions until terminated.
WAITING = CasePolicies(default=AUTOMATIC.model_copy(update={"decision": "manual"}))

# `bench cases --open N`: the measured cases (the demo's item) run automatically on the same
# nodes that hold N open ones, so the open cases are of another item whose decision B's policy
# leaves to people (a node's policy is per item; B takes it when the case arrives).
OPEN_ITEM = "GG-00105-000"  # 开具户籍类证明: one carried material, no fee, no route
OPEN_BESIDE = CasePolicies(
    default=AUTOMATIC, items={OPEN_ITEM: AUTOMATIC.model_copy(update={"decision": "manual"})}
)
OPEN_ITEM_QUERY = f"{OPEN_QUERY} AND ItemCode = '{OPEN_ITEM}'"


def open_item_application(i: int) -> Application:
    """The bench's applicant `i`, applying for the open item with its one material."""
    return Application.model_validate(
        {
            **bench_application(i).model_dump(),
            "item_code": OPEN_ITEM,
            "materials": [material_ref("居民身份证").model_dump()],
        }
    )


PairFactory = Callable[[dict[str, str] | None], AbstractAsyncContextManager[PairUnderTest]]


def _terminate_open(pair: PairUnderTest, address: str, query: str = OPEN_QUERY) -> None:
    """Terminate the cases `query` finds open in B, and their intakes in A (a batch job the
    server carries out after this returns)."""
    for region, found in (
        (pair.processing, query),
        (pair.origin, query.replace("Processing", "Intake")),
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
                found,
                "--reason",
                "benchmark cleanup",
                "--yes",
            ],
            check=False,
            capture_output=True,
        )


async def close_opened(pair: PairUnderTest, query: str, timeout: float = 900.0) -> float:
    """Terminate what `query` finds open on the pair (B's processing and A's intake) and wait
    until neither region shows one running: the seconds it took."""
    began = time.monotonic()
    address = pair.services.client.service_client.config.target_host
    intake = query.replace("Processing", "Intake")
    _terminate_open(pair, address, query)
    while time.monotonic() < began + timeout:
        left = await _open_count(pair, query)
        left += (await pair.services.client.count_workflows(intake)).count
        if not left:
            return time.monotonic() - began
        await asyncio.sleep(2.0)
    raise TimeoutError(f"cases still open {timeout:.0f} s after terminating them")


async def _open_count(pair: PairUnderTest, query: str) -> int:
    return (await pair.processing_client.count_workflows(query)).count


async def _until_open(pair: PairUnderTest, level: int, query: str, timeout: float) -> None:
    # Visibility is polled: there is no event to wait on for "B has started N workflows".
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await _open_count(pair, query) >= level:
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"fewer than {level} cases open after {timeout:.0f} s")


async def open_waiting(
    pair: PairUnderTest,
    count: int,
    *,
    first: int = 0,
    policies: CasePolicies = WAITING,
    application: Callable[[int], Application] = bench_application,
    query: str = OPEN_QUERY,
    within_s: float | None = None,
    chunk: int | None = None,
) -> int:
    """Submit `count` cases (numbered from `first`) that wait for a person's decision in B, and
    return once B holds them open: how many were submitted. B must hold them waiting: its
    node's policy for their item leaves the decision to people; `query` counts them in B
    (cases open there before this call are not counted).

    `chunk`: submit that many, wait until B holds them, then the next. `within_s`: start no
    chunk (and no submission) once that many seconds have passed. The window takes cases far
    faster than the pair forwards and accepts them (2026-12-01: 10,000 submitted in ≈ 6 min,
    held by B at ≈ 3 a second), so without chunks the limit bounds only the submitting."""
    already = await _open_count(pair, query)
    began = time.monotonic()
    stop_at = None if within_s is None else began + within_s
    submitted = 0

    def late() -> bool:
        return stop_at is not None and time.monotonic() >= stop_at

    async def one(offset: int, i: int) -> None:
        nonlocal submitted
        if late():
            return
        await submit_case(
            pool=pair.services.pool,
            client=pair.services.client,
            credentials=pair.services.credentials,
            policies=policies,
            application=application(first + offset + i),
        )
        submitted += 1

    step = chunk or count
    while submitted < count and not late():
        await paced(min(step, count - submitted), None, 64, functools.partial(one, submitted))
        # Half an hour at least, as before; beyond it, a second a case the opener submitted.
        await _until_open(pair, already + submitted, query, max(1800.0, submitted * 1.0))
    return submitted


async def run_memory(
    levels: list[int], running_pair: PairFactory, console: Console
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    async with running_pair({"TONGBAN_NODE_POLICIES": WAITING.model_dump_json()}) as pair:
        address = pair.services.client.service_client.config.target_host
        _terminate_open(pair, address)  # leftovers of an earlier run would be counted
        opened = 0
        try:
            for level in levels:
                began = time.monotonic()
                opened += await open_waiting(pair, level - opened, first=opened)
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
