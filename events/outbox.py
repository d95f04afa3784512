"""The transactional outbox: building a signed envelope and writing it with its case change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from events import message_log, tracing
from events.envelope import ENVELOPE_VERSION, Envelope, event_id_for, region_source
from events.models import EventType
from events.pg import Conn
from events.signing import RegionSigner
from events.stores.exchange import OutboxEntry
from events.stores.postgres import OUTBOX_CHANNEL, PostgresTransaction
from events.stores.unit import Transaction
from events.topics import inbox_topic

__all__ = [
    "DEFAULT_ENVELOPE_BUDGET",
    "OUTBOX_CHANNEL",
    "EnvelopeTooLarge",
    "already_enqueued",
    "enqueue",
    "enqueue_in",
    "signed_envelope",
]

# The largest envelope one event may put in the outbox. Well under the broker's ~1 MiB
# (message.max.bytes), the producer's max_request_size and the receivers' max_record_bytes, so
# a record the outbox took is one every hop takes too; a node setting may change it.
DEFAULT_ENVELOPE_BUDGET = 256 * 1024


class EnvelopeTooLarge(Exception):
    """An envelope over the outbox's size budget: refused before anything is written.

    Retrying cannot help (the same step builds the same bytes), so callers must not retry."""

    def __init__(self, envelope: Envelope, size: int, budget: int) -> None:
        super().__init__(
            f"{envelope.type.value} event {envelope.id} is {size} bytes,"
            f" over the outbox budget of {budget} bytes"
        )
        self.event_id = envelope.id
        self.event_type = envelope.type
        self.size = size
        self.budget = budget


def signed_envelope(
    signer: RegionSigner,
    *,
    event_type: EventType,
    case_no: str,
    step: str,
    recipient: str,
    data: dict[str, Any],
    now: datetime,
) -> Envelope:
    envelope = Envelope(
        id=event_id_for(case_no, step, signer.region),
        source=region_source(signer.region),
        type=event_type,
        time=now,
        subject=case_no,
        tbversion=ENVELOPE_VERSION,
        senderregion=signer.region,
        recipientregion=recipient,
        keyid=signer.key_id,
        data=data,
    )
    return signer.sign(envelope)


async def already_enqueued(conn: Conn, event_id: str) -> bool:
    return await PostgresTransaction(conn).outbox.contains(event_id)


async def enqueue_in(
    tx: Transaction, envelope: Envelope, *, budget: int = DEFAULT_ENVELOPE_BUDGET
) -> bool:
    """Write the envelope and its message-log entry in the caller's unit of work. False when
    this event id was written before (a retried step): the first row, with its original
    bytes, is the one that counts.

    Raises `EnvelopeTooLarge` (nothing written) when the envelope is over `budget` bytes: one
    record the broker refuses would otherwise sit at the head of the region's outbox."""
    wire = envelope.to_wire()
    if len(wire) > budget:
        raise EnvelopeTooLarge(envelope, len(wire), budget)
    entry = OutboxEntry(
        event_id=envelope.id,
        case_no=envelope.subject,
        event_type=envelope.type.value,
        recipient_region=envelope.recipientregion,
        topic=inbox_topic(envelope.recipientregion),
        envelope=wire,
        # The sending activity's span: the relay's producer span becomes its child.
        trace_context=tracing.current_context_json(),
    )
    if not await tx.outbox.add(entry):
        return False
    await message_log.append_to(tx.message_log, "sent", envelope.id, wire)
    return True


async def enqueue(conn: Conn, envelope: Envelope, *, budget: int = DEFAULT_ENVELOPE_BUDGET) -> bool:
    """`enqueue_in` the transaction open on `conn`."""
    return await enqueue_in(PostgresTransaction(conn), envelope, budget=budget)
