"""B's node down for longer than the receipt timeout: A resends, and B catches up on return."""

from __future__ import annotations

import asyncpg
import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.models import EventType
from tests.faults.harness import run_fault
from tests.faults.invariants import Outsider
from tests.faults.runner import Runner
from tests.faults.workload import CROSS
from tests.integration.api_nodes import ApiNodes
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B = CROSS
# B stays down until A has sent one of its events this often (first send and resends at
# backoff 1.5 after the 2 s receipt timeout: about 10 s), far from the 12th, when A gives up.
SENDS_WHILE_DOWN = 4


async def _most_sends_to_b(stack: StackEndpoints, case_nos: list[str]) -> int:
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        most = await conn.fetchval(
            "SELECT max(attempts) FROM outbox WHERE recipient_region = $1 AND event_type <> $2"
            " AND receipted_at IS NULL AND case_no = ANY($3::text[])",
            B,
            EventType.RECEIPT.value,
            case_nos,
        )
    finally:
        await conn.close()
    return int(most or 0)


async def test_a_long_absent_receiver_is_resent_to_and_catches_up(
    nodes: ApiNodes, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    async def inject(runner: Runner) -> Outsider | None:
        nodes.nodes.nodes[B].stop()  # a clean shutdown, unlike the kill -9 test
        # The fault itself lasts until A has resent to the absent B, whatever the machine's
        # speed: an event of this run's cases unreceipted after several sends.
        await eventually(
            lambda: _most_sends_to_b(stack, [c.case_no for c in runner.cases]),
            until=lambda sends: sends >= SENDS_WHILE_DOWN,
            timeout=90,
            every=0.5,
            what=f"A to send an event to the absent B {SENDS_WHILE_DOWN} times",
        )
        await nodes.start(B)
        return None

    run = await run_fault(
        "B down longer than the receipt timeout", nodes, stack, stack_settings, inject
    )
    # Every event A resent was receipted in the end: the checker finds none unreceipted or
    # given up on.
    assert run.findings.ok, run.explain()
    assert run.settled, run.explain()
