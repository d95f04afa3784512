"""Every record sent so far produced again, shuffled, while cases run and after they closed.

Copies of real, validly signed records: duplicates of what was delivered, a case's events
out of their order, and a `forwarded` event after its processing workflow has closed.
"""

from __future__ import annotations

import random

import asyncpg
import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.models import EventType
from tests.faults.harness import run_fault
from tests.faults.injectors import SentRecord, replay, sent_count
from tests.faults.invariants import Outsider, check
from tests.faults.runner import Runner
from tests.faults.workload import CROSS, INTRA
from tests.integration.api_nodes import ApiNodes
from tests.support.stack_access import Bus
from tests.waiting import eventually

pytestmark = pytest.mark.integration

REPLAYS_DURING_RUN = 3
RECEIPT = EventType.RECEIPT.value
# Between two replays the cases must have moved on: this many more records sent.
MOVED_ON = 10


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


async def _moved_on(stack: StackEndpoints, runner: Runner, since: int) -> None:
    await eventually(
        lambda: sent_count(stack, runner.cases),
        until=lambda sent: sent >= since + MOVED_ON,
        timeout=60,
        what=f"{MOVED_ON} more records sent since the last replay",
    )


async def test_duplicated_and_reordered_deliveries_change_nothing(
    nodes: ApiNodes, stack: StackEndpoints, stack_settings: StackSettings, bus: Bus
) -> None:
    rng = random.Random(20261127)
    replayed: list[list[SentRecord]] = []

    async def inject(runner: Runner) -> Outsider | None:
        for _ in range(REPLAYS_DURING_RUN):
            # Each replay at a later point of the cases' lives, not a fixed time apart.
            if replayed:
                await _moved_on(stack, runner, since=len(replayed[-1]))
            replayed.append(await replay(stack, bus, runner.cases, rng))
        return None

    run = await run_fault(
        "duplicated and reordered deliveries", nodes, stack, stack_settings, inject
    )
    assert run.findings.ok, run.explain()
    assert run.settled, run.explain()
    assert all(replayed), "a replay during the run found nothing to replay"

    # And once more after everything closed: no workflow reopens, nothing is applied again,
    # and every copy is counted as the duplicate it is, exactly once: each region counts the
    # copies sent to it, and the receipts its peers send again for the copies of its own
    # business events (a duplicate arrival is answered with the receipt again).
    numbers = [c.case_no for c in run.cases]
    regions = (*CROSS, *INTRA)
    before = {r: await _duplicates(stack, r, numbers) for r in regions}
    copies = await replay(stack, bus, run.cases, rng)
    expected = {
        r: before[r]
        + sum(c.recipient == r for c in copies)
        + sum(c.sender == r and c.event_type != RECEIPT for c in copies)
        for r in regions
    }
    assert {c.recipient for c in copies} == set(regions)

    async def counted() -> dict[str, int]:
        return {r: await _duplicates(stack, r, numbers) for r in regions}

    await eventually(
        counted, until=lambda now: now == expected, timeout=60, what=f"duplicates {expected}"
    )
    after = await check(run.cases, stack, stack_settings, nodes.nodes.clients)
    assert after.ok, "; ".join(after.problems)
