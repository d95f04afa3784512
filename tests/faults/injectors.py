"""What each fault does to the running system. Each returns once the fault is over (the
killed node polls again, the restarted service answers), so recovery is timed from there."""

from __future__ import annotations

import asyncio
import hashlib
import random

import asyncpg

from events.envelope import Envelope
from events.models import CaseDecided, CaseForwarded, CaseWithdrawn, EventReceipt, EventType
from events.rejections import RejectReason
from regions.stack.manager import restart_service
from regions.stack.settings import StackEndpoints, StackSettings, region_dsn
from tests.faults.runner import Case
from tests.integration.api_nodes import ApiNodes
from tests.integration.exchange_support import credentials, produce, signed


async def kill_node(api: ApiNodes, region: str, *, down_s: float = 3.0) -> None:
    """kill -9, a few seconds of nothing, then the node again (its worker polls, API answers)."""
    api.nodes.kill(region)
    await asyncio.sleep(down_s)
    await api.start(region)


async def restart(settings: StackSettings, service: str, *, down_s: float = 3.0) -> None:
    """One stack service stopped under the running nodes and brought back with `up`."""
    await restart_service(settings, service, down_for_s=down_s)


async def assert_nodes_survive(api: ApiNodes, pids: dict[str, int], *, watch_s: float) -> None:
    """Fail fast when a node exits after a service restart, instead of timing out later."""
    # Watch the whole window even after a first death: the test's teardown restarts every
    # node found dead, and one dying a second later would break the next test.
    await asyncio.sleep(watch_s)
    dead = [r for r, n in api.nodes.nodes.items() if n.process.poll() is not None]
    if dead:
        tails = "\n".join(f"--- {r}\n{api.nodes.nodes[r].log_tail(8)}" for r in dead)
        raise AssertionError(f"nodes {dead} exited after the restart:\n{tails}")
    assert {r: n.process.pid for r, n in api.nodes.nodes.items()} == pids


async def _sent_records(stack: StackEndpoints, cases: list[Case]) -> list[tuple[str, str, bytes]]:
    """(recipient, case no, exact bytes) of every record the cases' regions have sent so far."""
    found: list[tuple[str, str, bytes]] = []
    regions = sorted({r for c in cases for r in (c.origin, c.processing)})
    numbers = [c.case_no for c in cases]
    for region in regions:
        conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, region))
        try:
            rows = await conn.fetch(
                "SELECT recipient_region, case_no, envelope FROM outbox"
                " WHERE case_no = ANY($1::text[]) AND sent_at IS NOT NULL ORDER BY seq",
                numbers,
            )
        finally:
            await conn.close()
        found += [(r["recipient_region"], r["case_no"], bytes(r["envelope"])) for r in rows]
    return found


async def replay(stack: StackEndpoints, cases: list[Case], rng: random.Random) -> int:
    """Produce every record sent so far again, shuffled: duplicates, and a case's events out
    of their order (a `decided` before its `accepted`, a `forwarded` after the case closed)."""
    records = await _sent_records(stack, cases)
    rng.shuffle(records)
    for recipient, case_no, raw in records:
        await produce(stack.kafka_bootstrap, recipient, raw, case_no.encode())
    return len(records)


async def outsider_events(
    stack: StackEndpoints, settings: StackSettings, outsider: str, case: Case
) -> dict[tuple[str, int, int], str]:
    """The outsider, with its own valid keys, sends what only a party to `case` may send:
    a decision to the accepting region, a withdrawal and a forwarding of the case to the
    processing region, and a receipt for the accepting region's `forwarded` event."""
    creds = credentials(settings, outsider)
    no, a, b = case.case_no, case.origin, case.processing
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, a))
    try:
        forwarded = await conn.fetchrow(
            "SELECT event_id, envelope FROM outbox WHERE case_no = $1 AND event_type = $2",
            no,
            EventType.FORWARDED.value,
        )
    finally:
        await conn.close()
    if forwarded is None:
        raise AssertionError(f"{no} was not forwarded yet")
    original = Envelope.model_validate_json(bytes(forwarded["envelope"]))
    forged_forward = CaseForwarded.model_validate(original.data)
    attempts: list[tuple[str, EventType, dict[str, object], RejectReason]] = [
        (
            a,
            EventType.DECIDED,
            CaseDecided(
                case_no=no, outcome="denied", reason="北京说不行", decision_digest=None
            ).model_dump(mode="json"),
            RejectReason.SENDER_NOT_ENTITLED,
        ),
        (
            b,
            EventType.WITHDRAWN,
            CaseWithdrawn(case_no=no, reason="北京替申请人撤回").model_dump(mode="json"),
            RejectReason.SENDER_NOT_ENTITLED,
        ),
        (
            b,
            EventType.FORWARDED,
            forged_forward.model_dump(mode="json"),
            RejectReason.SENDER_NOT_ENTITLED,
        ),
        (
            a,
            EventType.RECEIPT,
            EventReceipt(
                case_no=no,
                receipted_event_id=forwarded["event_id"],
                receipted_digest=hashlib.sha256(bytes(forwarded["envelope"])).hexdigest(),
            ).model_dump(mode="json"),
            RejectReason.RECEIPT_MISMATCH,
        ),
    ]
    expected: dict[tuple[str, int, int], str] = {}
    for recipient, event_type, data, reason in attempts:
        envelope = signed(creds, event_type, case_no=no, recipient=recipient, data=data)
        partition, offset = await produce(
            stack.kafka_bootstrap, recipient, envelope.to_wire(), no.encode()
        )
        expected[(recipient, partition, offset)] = reason.value
    return expected
