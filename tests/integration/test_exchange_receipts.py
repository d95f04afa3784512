"""Receipts (AS4 reception awareness) between two real nodes on Kafka, Temporal, Postgres."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import Client

from deploy.stack.settings import StackEndpoints, StackSettings
from events.envelope import Envelope
from events.models import EventReceipt, EventType
from events.rejections import RejectReason
from regions.node_process import NodeProcess
from tests.integration.automatic import AUTOMATIC_ENV
from tests.integration.exchange_support import (
    RECEIPT,
    credentials,
    dsn,
    produce,
    rows,
    signed,
    start_node,
    submit,
)
from tests.support.stack_access import Bus, temporal_client
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B, NOBODY = "350000", "440000", "110000"  # no node ever runs for 110000 in the tests
ATTEMPTS = 3
# A gives up quickly, so the give-up path runs in seconds; B answers in milliseconds.
A_ENV = {
    **AUTOMATIC_ENV,
    "TONGBAN_NODE_RECEIPT_TIMEOUT_S": "1.0",
    "TONGBAN_NODE_RESEND_BACKOFF": "1.0",
    "TONGBAN_NODE_MAX_SEND_ATTEMPTS": str(ATTEMPTS),
}


@dataclass
class Pair:
    nodes: dict[str, NodeProcess]
    clients: dict[str, Client]
    case_no: str


@pytest.fixture(scope="module")
async def pair(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[Pair]:
    from regions.local import ensure_local_keys

    ensure_local_keys(stack_settings, stack_settings.regions)
    clients = {r: await temporal_client(stack_settings, stack, r) for r in (A, B)}
    nodes: dict[str, NodeProcess] = {}
    try:
        nodes[A] = await start_node(stack, stack_settings, A, clients[A], A_ENV)
        nodes[B] = await start_node(stack, stack_settings, B, clients[B], AUTOMATIC_ENV)
        case_no, handle = await submit(stack, stack_settings, A, B)
        await asyncio.wait_for(handle.result(), timeout=90)
        yield Pair(nodes, clients, case_no)
    finally:
        for node in nodes.values():
            node.stop()


async def _business_rows_receipted(dsn_: str, case_no: str) -> bool:
    found = await rows(
        dsn_,
        "SELECT receipted_at IS NOT NULL AS done FROM outbox"
        " WHERE case_no = $1 AND event_type <> $2",
        case_no,
        RECEIPT,
    )
    return bool(found) and all(r["done"] for r in found)


async def test_every_business_event_is_receipted_and_receipts_are_not(
    pair: Pair, stack: StackEndpoints
) -> None:
    for region in (A, B):
        await eventually(
            functools.partial(_business_rows_receipted, dsn(stack, region), pair.case_no),
            what=f"receipts for {region}'s events",
        )
    for region in (A, B):
        db = dsn(stack, region)
        received = {
            r["event_id"]
            for r in await rows(
                db,
                "SELECT event_id FROM inbox WHERE case_no = $1 AND event_type <> $2",
                pair.case_no,
                RECEIPT,
            )
        }
        receipts_sent = await rows(
            db,
            "SELECT envelope, next_attempt_at FROM outbox WHERE case_no = $1 AND event_type = $2",
            pair.case_no,
            RECEIPT,
        )
        answered = {
            EventReceipt.model_validate(
                Envelope.model_validate_json(bytes(r["envelope"])).data
            ).receipted_event_id
            for r in receipts_sent
        }
        # One receipt per business event received, none for receipts, none waiting for one.
        assert received
        assert answered == received
        assert len(receipts_sent) == len(received)
        assert all(r["next_attempt_at"] is None for r in receipts_sent)
        undispatched = await rows(
            db,
            "SELECT delivery_note FROM inbox WHERE case_no = $1 AND event_type = $2",
            pair.case_no,
            RECEIPT,
        )
        assert undispatched
        assert {r["delivery_note"] for r in undispatched} == {"receipt: not dispatched"}


async def _duplicate_count(stack: StackEndpoints, region: str, event_id: str) -> int:
    found = await rows(
        dsn(stack, region), "SELECT count FROM inbox_duplicates WHERE event_id = $1", event_id
    )
    return int(found[0]["count"]) if found else 0


async def test_a_duplicate_arrival_sends_the_receipt_again(
    pair: Pair, stack: StackEndpoints, bus: Bus
) -> None:
    [forwarded] = await rows(
        dsn(stack, A),
        "SELECT event_id, envelope FROM outbox WHERE case_no = $1 AND event_type = $2",
        pair.case_no,
        EventType.FORWARDED.value,
    )
    [before] = await rows(
        dsn(stack, B),
        "SELECT o.event_id, o.attempts FROM inbox i JOIN outbox o"
        " ON o.event_id = i.receipt_event_id WHERE i.event_id = $1",
        forwarded["event_id"],
    )
    # Copies counted so far (the pair's earlier tests may have produced some): each side's
    # count must grow by exactly the one copy this test adds.
    b_copies = await _duplicate_count(stack, B, forwarded["event_id"])
    a_copies = await _duplicate_count(stack, A, before["event_id"])
    await produce(bus, B, bytes(forwarded["envelope"]), pair.case_no.encode())

    async def resent() -> bool:
        [row] = await rows(
            dsn(stack, B),
            "SELECT attempts, sent_at IS NOT NULL AS sent FROM outbox WHERE event_id = $1",
            before["event_id"],
        )
        return bool(row["attempts"] > before["attempts"] and row["sent"])

    await eventually(resent, what="B to resend its receipt")
    assert await _duplicate_count(stack, B, forwarded["event_id"]) == b_copies + 1
    # A counts the second copy of the receipt as a duplicate and does not answer it.
    await eventually(
        lambda: _duplicate_count(stack, A, before["event_id"]),
        until=lambda n: n == a_copies + 1,
        what="A to count the duplicate receipt",
    )
    assert not await rows(
        dsn(stack, A),
        "SELECT 1 FROM outbox o JOIN inbox i ON o.event_id = i.receipt_event_id"
        " WHERE i.event_type = $1",
        RECEIPT,
    )


async def test_receipts_that_do_not_match_what_was_sent_are_quarantined(
    pair: Pair, stack: StackEndpoints, stack_settings: StackSettings, bus: Bus
) -> None:
    [forwarded] = await rows(
        dsn(stack, A),
        "SELECT event_id, envelope, receipt_event_id FROM outbox"
        " WHERE case_no = $1 AND event_type = $2",
        pair.case_no,
        EventType.FORWARDED.value,
    )
    right_digest = hashlib.sha256(bytes(forwarded["envelope"])).hexdigest()
    forgeries = {
        # The event went to 440000: 350100 cannot vouch for having received it.
        "other region": (credentials(stack_settings, "350100"), right_digest),
        "other bytes": (credentials(stack_settings, B), hashlib.sha256(b"x").hexdigest()),
    }
    placed = {}
    for name, (creds, digest) in forgeries.items():
        receipt = signed(
            creds,
            EventType.RECEIPT,
            case_no=pair.case_no,
            recipient=A,
            data=EventReceipt(
                case_no=pair.case_no,
                receipted_event_id=forwarded["event_id"],
                receipted_digest=digest,
            ).model_dump(mode="json"),
        )
        placed[name] = await produce(bus, A, receipt.to_wire(), pair.case_no.encode())
    for name, (partition, offset) in placed.items():

        async def quarantined(p: int = partition, o: int = offset) -> str | None:
            found = await rows(
                dsn(stack, A),
                "SELECT reason FROM quarantine WHERE topic = $1 AND kafka_partition = $2"
                " AND kafka_offset = $3",
                f"tongban.inbox.{A}",
                p,
                o,
            )
            return found[0]["reason"] if found else None

        assert await eventually(quarantined, what=name) == RejectReason.RECEIPT_MISMATCH.value
    [after] = await rows(
        dsn(stack, A),
        "SELECT receipt_event_id FROM outbox WHERE event_id = $1",
        forwarded["event_id"],
    )
    assert after["receipt_event_id"] == forwarded["receipt_event_id"]


async def test_an_unreceipted_event_is_resent_then_failed_and_its_workflow_told(
    pair: Pair, stack: StackEndpoints
) -> None:
    case_no, handle = await submit(stack, StackSettings(), A, NOBODY)

    async def failed() -> asyncpg.Record | None:
        found = await rows(
            dsn(stack, A),
            "SELECT attempts, failure_reason, failure_signalled_at, failure_note, receipted_at"
            " FROM outbox WHERE case_no = $1 AND event_type = $2 AND failure_signalled_at"
            " IS NOT NULL",
            case_no,
            EventType.FORWARDED.value,
        )
        return found[0] if found else None

    row = await eventually(failed, timeout=45, what="the forwarded event to be given up on")
    assert row["attempts"] == ATTEMPTS
    assert row["failure_reason"] == f"no receipt after {ATTEMPTS} attempts"
    assert row["receipted_at"] is None
    assert row["failure_note"] is None  # the workflow was there and was told

    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        async for e in handle.fetch_history_events()
        if e.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert signals.count("delivery_failed") == 1
    assert "ALARM delivery failed" in pair.nodes[A].log_path.read_text(errors="replace")
