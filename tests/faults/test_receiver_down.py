"""B's node down for longer than the receipt timeout: A resends, and B catches up on return."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from events.models import EventType
from regions.stack.settings import StackEndpoints, StackSettings, region_dsn
from tests.faults.harness import run_fault
from tests.faults.invariants import Outsider
from tests.faults.runner import Runner
from tests.faults.workload import CROSS, RECEIPT_TIMEOUT_S
from tests.integration.api_nodes import ApiNodes

pytestmark = pytest.mark.integration

A, B = CROSS
DOWN_S = 8 * RECEIPT_TIMEOUT_S  # several resends at backoff 1.5, far from the 12th


async def test_a_long_absent_receiver_is_resent_to_and_catches_up(
    nodes: ApiNodes, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    async def inject(_: Runner) -> Outsider | None:
        nodes.nodes.nodes[B].stop()  # a clean shutdown, unlike the kill -9 test
        await asyncio.sleep(DOWN_S)
        await nodes.start(B)
        return None

    run = await run_fault(
        "B down longer than the receipt timeout", nodes, stack, stack_settings, inject
    )
    assert run.findings.ok, run.explain()
    assert run.settled
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        resent = await conn.fetchval(
            "SELECT max(attempts) FROM outbox WHERE recipient_region = $1 AND event_type <> $2"
            " AND created_at > now() - make_interval(secs => $3)",
            B,
            EventType.RECEIPT.value,
            run.runtime_s,
        )
    finally:
        await conn.close()
    # A went on sending to the absent B (the receipt never came in time) and did not give up.
    assert resent is not None
    assert resent > 1
