"""Every record sent so far produced again, shuffled, while cases run and after they closed.

Copies of real, validly signed records: duplicates of what was delivered, a case's events
out of their order, and a `forwarded` event after its processing workflow has closed.
"""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest

from regions.stack.settings import StackEndpoints, StackSettings, region_dsn
from tests.faults.harness import run_fault
from tests.faults.injectors import replay
from tests.faults.invariants import Outsider, check
from tests.faults.runner import Runner
from tests.integration.api_nodes import ApiNodes

pytestmark = pytest.mark.integration


async def _duplicates(stack: StackEndpoints, region: str, case_nos: list[str]) -> int:
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, region))
    try:
        return int(
            await conn.fetchval(
                "SELECT coalesce(sum(d.count), 0) FROM inbox_duplicates d"
                " JOIN inbox i USING (event_id) WHERE i.case_no = ANY($1::text[])",
                case_nos,
            )
        )
    finally:
        await conn.close()


async def test_duplicated_and_reordered_deliveries_change_nothing(
    nodes: ApiNodes, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    rng = random.Random(20261127)
    replayed: list[int] = []

    async def inject(runner: Runner) -> Outsider | None:
        for _ in range(3):  # while the cases move through their phases
            replayed.append(await replay(stack, runner.cases, rng))
            await asyncio.sleep(1.5)
        return None

    run = await run_fault(
        "duplicated and reordered deliveries", nodes, stack, stack_settings, inject
    )
    assert run.findings.ok, run.explain()
    assert run.settled
    assert sum(replayed) > 0
    # And once more after everything closed: no workflow reopens, nothing is applied again.
    numbers = [c.case_no for c in run.cases]
    before = {r: await _duplicates(stack, r, numbers) for r in ("440000", "350200")}
    assert await replay(stack, run.cases, rng) > 0

    async def all_seen() -> bool:
        return all([await _duplicates(stack, r, numbers) > n for r, n in before.items()])

    deadline = asyncio.get_running_loop().time() + 60
    while not await all_seen():
        assert asyncio.get_running_loop().time() < deadline, "replayed copies never arrived"
        await asyncio.sleep(0.5)
    after = await check(run.cases, stack, stack_settings, nodes.nodes.clients)
    assert after.ok, "; ".join(after.problems)
