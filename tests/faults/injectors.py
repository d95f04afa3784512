"""What each fault does to the running system. Each returns once the fault is over (the
killed node polls again, the restarted service answers), so recovery is timed from there."""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass

import asyncpg
import httpx

from deploy.stack.manager import restart_service
from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.envelope import Envelope
from events.models import CaseDecided, CaseForwarded, CaseWithdrawn, EventReceipt, EventType
from events.rejections import RejectReason
from tests.faults.runner import Case
from tests.integration.api_nodes import ApiNodes
from tests.integration.exchange_support import credentials, produce_all, signed
from tests.support.stack_access import Bus, bus_for
from tests.waiting import eventually


async def kill_node(api: ApiNodes, region: str, *, down_s: float = 3.0) -> None:
    """kill -9, a few seconds of nothing, then the node again (its worker polls, API answers)."""
    api.nodes.kill(region)  # returns once the process is gone
    await asyncio.sleep(down_s)  # the fault itself: the region stays away this long
    await api.start(region)


async def restart(settings: StackSettings, service: str, *, down_s: float = 3.0) -> None:
    """One stack service stopped under the running nodes (and kept down `down_s`, the fault
    itself), then brought back with `up`, which returns once the service answers."""
    await restart_service(settings, service, down_for_s=down_s)


async def ready(api: ApiNodes, region: str) -> bool:
    """The region's node answers /readyz: its Postgres and Temporal answer it again."""
    try:
        async with httpx.AsyncClient(base_url=api.urls[region], timeout=5.0) as client:
            return (await client.get("/readyz")).status_code == 200
    except httpx.TransportError:
        return False


async def assert_nodes_survive(api: ApiNodes, pids: dict[str, int]) -> None:
    """Wait until every node is ready again after a service restart, failing at once when
    one exits instead of timing out later. The run's end checks the pids once more."""

    async def not_ready() -> list[str]:
        dead = [r for r, n in api.nodes.nodes.items() if n.process.poll() is not None]
        if dead:
            tails = "\n".join(f"--- {r}\n{api.nodes.nodes[r].log_tail(8)}" for r in dead)
            raise AssertionError(f"nodes {dead} exited after the restart:\n{tails}")
        return [r for r in api.nodes.nodes if not await ready(api, r)]

    await eventually(
        not_ready, until=lambda left: not left, timeout=60, what="every node ready again"
    )
    assert {r: n.process.pid for r, n in api.nodes.nodes.items()} == pids


@dataclass(frozen=True)
class SentRecord:
    sender: str
    recipient: str
    case_no: str
    event_type: str
    raw: bytes


async def _sent_records(stack: StackEndpoints, cases: list[Case]) -> list[SentRecord]:
    """Every record the cases' regions have sent so far, with its exact bytes."""
    found: list[SentRecord] = []
    regions = sorted({r for c in cases for r in (c.origin, c.processing)})
    numbers = [c.case_no for c in cases]
    for region in regions:
        conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, region))
        try:
            rows = await conn.fetch(
                "SELECT recipient_region, case_no, event_type, envelope FROM outbox"
                " WHERE case_no = ANY($1::text[]) AND sent_at IS NOT NULL ORDER BY seq",
                numbers,
            )
        finally:
            await conn.close()
        found += [
            SentRecord(
                region, r["recipient_region"], r["case_no"], r["event_type"], bytes(r["envelope"])
            )
            for r in rows
        ]
    return found


async def replay(
    stack: StackEndpoints, bus: Bus, cases: list[Case], rng: random.Random
) -> list[SentRecord]:
    """Produce every record sent so far again, shuffled: duplicates, and a case's events out
    of their order (a `decided` before its `accepted`, a `forwarded` after the case closed).
    Returns the records produced."""
    records = await _sent_records(stack, cases)
    rng.shuffle(records)
    await produce_all(bus, [(r.recipient, r.raw, r.case_no.encode()) for r in records])
    return records


async def sent_count(stack: StackEndpoints, cases: list[Case]) -> int:
    """Records the cases' regions have sent so far."""
    return len(await _sent_records(stack, cases))


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
    # Consistent in itself (the outsider names itself as the accepting region), so it is
    # refused for what it is, a region that is not party to the case, not as self-contradictory.
    forged_forward = CaseForwarded.model_validate({**original.data, "origin_region": outsider})
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
    records = [
        (recipient, signed(creds, t, case_no=no, recipient=recipient, data=data).to_wire())
        for recipient, t, data, _ in attempts
    ]
    bus = bus_for(settings, stack)
    placed = await produce_all(bus, [(r, raw, no.encode()) for r, raw in records])
    return {
        (recipient, partition, offset): reason.value
        for (recipient, _, _, reason), (partition, offset) in zip(attempts, placed, strict=True)
    }
