"""A node killed between any two delivery steps loses nothing and applies nothing twice.

Sender: outbox committed -> published -> marked sent. Receiver: inbox committed -> Kafka
offset committed -> workflow signalled -> marked delivered. For each gap, the node of that
side runs as its own process armed with the crash point (`TONGBAN_NODE_CRASH_AT`), dies
there with no cleanup at all (`os._exit`), and is started again unarmed. The case must then
close in both regions with one inbox row, one processing workflow and one receipt-settled
`forwarded` event; redelivered copies are counted as duplicates.
"""

from __future__ import annotations

import pytest
from temporalio.client import Client

from deploy.stack.settings import StackEndpoints, StackSettings
from events import crash
from events.models import EventType
from regions.local import ensure_local_keys
from regions.node_process import NodeProcess
from tests.integration.automatic import AUTOMATIC_ENV
from tests.integration.exchange_support import dsn, rows, start_node, submit
from tests.support.stack_access import temporal_client
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
FORWARDED = EventType.FORWARDED.value

# The restarted node joins the consumer group only once the broker gave up on the dead one.
FAST_REJOIN = {**AUTOMATIC_ENV, "TONGBAN_NODE_KAFKA_SESSION_TIMEOUT_MS": "6000"}
# point -> (region that crashes, whether the receiver must see the forwarded event twice)
CASES = {
    crash.RELAY_BEFORE_PUBLISH: (A, False),
    crash.RELAY_AFTER_PUBLISH: (A, True),
    crash.BRIDGE_AFTER_STORE: (B, True),
    crash.BRIDGE_AFTER_OFFSET_COMMIT: (B, False),
    crash.DISPATCH_AFTER_SIGNAL: (B, False),
}


async def _wait_exit(node: NodeProcess, timeout: float = 60.0) -> int:
    async def exit_code() -> int | None:
        return node.process.poll()

    return await eventually(
        exit_code, timeout=timeout, every=0.1, what=f"node {node.region} to reach its crash point"
    )


async def _statuses(stack: StackEndpoints, case_no: str) -> tuple[str, ...]:
    found = []
    for region in (A, B):
        got = await rows(dsn(stack, region), "SELECT status FROM cases WHERE case_no = $1", case_no)
        found.append(got[0]["status"] if got else "")
    return tuple(found)


@pytest.mark.parametrize("point", list(CASES))
async def test_a_crash_between_steps_means_redelivery_not_loss_or_double_effect(
    point: str, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    victim, duplicate_expected = CASES[point]
    ensure_local_keys(stack_settings, stack_settings.regions)
    clients: dict[str, Client] = {
        r: await temporal_client(stack_settings, stack, r) for r in (A, B)
    }
    nodes: dict[str, NodeProcess] = {}
    try:
        for region in (A, B):
            env = dict(FAST_REJOIN)
            if region == victim:
                env["TONGBAN_NODE_CRASH_AT"] = point
            nodes[region] = await start_node(stack, stack_settings, region, clients[region], env)
        case_no, _ = await submit(stack, stack_settings, A, B)

        assert await _wait_exit(nodes[victim]) == crash.CRASH_EXIT_CODE
        assert f"crash point {point} reached" in nodes[victim].log_tail(200)
        nodes[victim] = await start_node(
            stack, stack_settings, victim, clients[victim], FAST_REJOIN
        )

        await eventually(
            lambda: _statuses(stack, case_no),
            until=lambda found: found == ("closed", "closed"),
            timeout=90,
            what=f"case closed in both regions after {point}",
        )
        inbox = await rows(
            dsn(stack, B),
            "SELECT event_id, delivered_at FROM inbox WHERE case_no = $1 AND event_type = $2",
            case_no,
            FORWARDED,
        )
        assert len(inbox) == 1
        assert inbox[0]["delivered_at"] is not None
        assert (await clients[B].count_workflows(f"CaseNo = '{case_no}'")).count == 1
        [sent] = await rows(
            dsn(stack, A),
            "SELECT event_id, receipted_at FROM outbox WHERE case_no = $1 AND event_type = $2",
            case_no,
            FORWARDED,
        )
        assert sent["event_id"] == inbox[0]["event_id"]
        assert sent["receipted_at"] is not None
        duplicates = await rows(
            dsn(stack, B),
            "SELECT count FROM inbox_duplicates WHERE event_id = $1",
            sent["event_id"],
        )
        if duplicate_expected:
            # A fresh event: none of its copies was counted before this crash.
            assert duplicates
            assert duplicates[0]["count"] >= 1
    finally:
        for node in nodes.values():
            node.stop()
