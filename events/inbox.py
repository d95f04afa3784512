"""The receiving side: each record is verified, then stored once in the inbox or quarantined.

The inbox row (unique event id), the message-log entry and the receipt answering the event
commit in one transaction, before the consumer commits the Kafka offset. A crash in between
means the record is read again and counted as a duplicate (its receipt sent again), never
applied twice and never lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from events import message_log, tracing
from events.envelope import Envelope
from events.models import PROCESSING_ONLY, accepting_region_of
from events.pg import Conn
from events.receipts import SignerAt, accept_receipt, answer, needs_receipt
from events.rejections import Rejected, RejectReason


@dataclass(frozen=True)
class IncomingRecord:
    topic: str
    partition: int
    offset: int
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class Stored(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"


Verifier = Callable[[bytes], Envelope]


async def _check_case_party(conn: Conn, envelope: Envelope, region: str) -> None:
    """At the accepting region, a processing-side event must come from the region the case
    was actually forwarded to, not from any region that knows the case number."""
    if envelope.type not in PROCESSING_ONLY or accepting_region_of(envelope.subject) != region:
        return
    processing = await conn.fetchval(
        "SELECT processing_region FROM cases WHERE case_no = $1", envelope.subject
    )
    if processing != envelope.senderregion:
        raise Rejected(
            RejectReason.SENDER_NOT_ENTITLED,
            f"{envelope.senderregion} is not the processing region of this case",
        )


async def quarantine(conn: Conn, record: IncomingRecord, rejected: Rejected) -> None:
    headers = [[key, value.hex()] for key, value in record.headers]
    await conn.execute(
        "INSERT INTO quarantine"
        " (reason, detail, raw, headers, topic, kafka_partition, kafka_offset)"
        " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)"
        " ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING",
        rejected.reason.value,
        rejected.detail,
        record.value,
        json.dumps(headers),
        record.topic,
        record.partition,
        record.offset,
    )


async def store_verified(
    conn: Conn, record: IncomingRecord, envelope: Envelope, region: str, signer_at: SignerAt
) -> Stored:
    """Store a verified envelope once, answering it with a receipt; the caller holds the
    transaction. Raises Rejected before writing anything when the case or receipt checks fail."""
    is_receipt = not needs_receipt(envelope.type)
    await _check_case_party(conn, envelope, region)
    if is_receipt and not await conn.fetchval(
        "SELECT 1 FROM inbox WHERE event_id = $1", envelope.id
    ):
        await accept_receipt(conn, envelope)
    inserted = await conn.fetchval(
        "INSERT INTO inbox (event_id, case_no, event_type, sender_region, envelope,"
        " topic, kafka_partition, kafka_offset, delivered_at, delivery_note, trace_context)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        "  CASE WHEN $9 THEN now() END, CASE WHEN $9 THEN 'receipt: not dispatched' END, $10)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING true",
        envelope.id,
        envelope.subject,
        envelope.type.value,
        envelope.senderregion,
        record.value,
        record.topic,
        record.partition,
        record.offset,
        is_receipt,
        tracing.current_context_json(),  # the bridge's consumer span, for the dispatcher
    )
    if not inserted:
        await conn.execute(
            "INSERT INTO inbox_duplicates (event_id, count) VALUES ($1, 1)"
            " ON CONFLICT (event_id) DO UPDATE SET count = inbox_duplicates.count + 1,"
            " last_seen_at = now()",
            envelope.id,
        )
        if not is_receipt:
            # The sender resends only when it lost our receipt: send that receipt again.
            stored = await conn.fetchval(
                "SELECT envelope FROM inbox WHERE event_id = $1", envelope.id
            )
            await answer(conn, envelope, bytes(stored), region, signer_at)
        return Stored.DUPLICATE
    await message_log.append(conn, "accepted", envelope.id, record.value)
    if not is_receipt:
        rid = await answer(conn, envelope, record.value, region, signer_at)
        await conn.execute(
            "UPDATE inbox SET receipt_event_id = $2 WHERE event_id = $1", envelope.id, rid
        )
    return Stored.ACCEPTED


async def store_incoming(
    conn: Conn, record: IncomingRecord, verify: Verifier, region: str, signer_at: SignerAt
) -> tuple[Stored, Envelope | None]:
    async with conn.transaction():
        try:
            envelope = verify(record.value)
            # A savepoint, so a rejection raised part-way leaves no half-stored event behind.
            async with conn.transaction():
                stored = await store_verified(conn, record, envelope, region, signer_at)
        except Rejected as rejected:
            await quarantine(conn, record, rejected)
            return Stored.QUARANTINED, None
        return stored, envelope
