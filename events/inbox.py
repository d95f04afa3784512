"""The receiving side: each record is verified, then stored once in the inbox or quarantined.

The inbox row (unique per sender and event id), the message-log entry and the receipt
answering the event commit in one transaction, before the consumer commits the Kafka offset.
A crash in between means the record is read again and counted as a duplicate (its receipt
sent again), never applied twice and never lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import asyncpg

from events import message_log, tracing
from events.envelope import Envelope
from events.file_receiving import FileReceiver
from events.models import BETWEEN_PARTIES, PROCESSING_ONLY, accepting_region_of
from events.pg import DATABASE_UNAVAILABLE, Conn
from events.receipts import SignerAt, accept_receipt, answer, needs_receipt
from events.rejections import Rejected, RejectReason
from events.stores.exchange import InboxEntry, InboxKey, QuarantineEntry
from events.stores.postgres import PostgresStores
from events.stores.unit import ContentRefused, Stores, Transaction

log = logging.getLogger(__name__)
_NO_FILES = FileReceiver()  # refuses material chunks as unreadable: no sealing key here


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


__all__ = [
    "DEFAULT_QUARANTINE_RAW_BYTES",
    "Admission",
    "InboxKey",
    "IncomingRecord",
    "Stored",
    "Verifier",
    "admit",
    "quarantine",
    "store_incoming",
    "store_verified",
]

Verifier = Callable[[bytes], Envelope]

# The database refusing this record's content (SQLSTATE class 22, data exceptions, and 23,
# constraint violations): the record cannot be stored, the database itself is fine.
_CONTENT_REFUSED: tuple[type[Exception], ...] = (
    ContentRefused,
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.IntegrityConstraintViolationError,
)
DEFAULT_QUARANTINE_RAW_BYTES = 64 * 1024
_MAX_DETAIL_CHARS = 500
_MAX_HEADERS = 32


@dataclass(frozen=True)
class Admission:
    """What became of one record: stored (accepted or duplicate) with its envelope, or
    quarantined with the rejection."""

    stored: Stored
    envelope: Envelope | None = None
    rejected: Rejected | None = None


def _storable_text(text: str, limit: int) -> str:
    """Text the database will take whatever a record put in it (no NUL, no lone surrogate)."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\\0")[:limit]


async def _check_case_party(tx: Transaction, envelope: Envelope, region: str) -> None:
    """At the accepting region, a processing-side event must come from the region the case
    was actually forwarded to, not from any region that knows the case number."""
    from_processing = envelope.type in PROCESSING_ONLY or envelope.type in BETWEEN_PARTIES
    if not from_processing or accepting_region_of(envelope.subject) != region:
        return
    processing = await tx.cases.processing_region(envelope.subject)
    if processing != envelope.senderregion:
        raise Rejected(
            RejectReason.SENDER_NOT_ENTITLED,
            f"{envelope.senderregion} is not the processing region of this case",
            envelope.senderregion,
        )


async def quarantine(
    tx: Transaction,
    record: IncomingRecord,
    rejected: Rejected,
    max_raw_bytes: int = DEFAULT_QUARANTINE_RAW_BYTES,
) -> None:
    """Keep the refused record (its first `max_raw_bytes`, and always the digest and length
    of all of it) with the reason. Every value is made storable first: a hostile record must
    not be able to make its own quarantine fail."""
    headers = [
        [_storable_text(key, 200), value.hex()[:2048]]
        for key, value in record.headers[:_MAX_HEADERS]
    ]
    await tx.quarantine.add(
        QuarantineEntry(
            reason=rejected.reason.value,
            detail=_storable_text(rejected.detail, _MAX_DETAIL_CHARS),
            raw=record.value[:max_raw_bytes],
            raw_sha256=hashlib.sha256(record.value).digest(),
            raw_length=len(record.value),
            headers_json=json.dumps(headers),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            claimed_sender=rejected.sender,
        )
    )


async def store_verified(
    tx: Transaction,
    record: IncomingRecord,
    envelope: Envelope,
    region: str,
    signer_at: SignerAt,
    files: FileReceiver | None = None,
) -> Stored:
    """Store a verified envelope once per (sender, event id), answering it with a receipt;
    the caller holds the unit of work. Raises Rejected before writing anything when the case
    or receipt checks fail, or when the id was stored before with other bytes."""
    is_receipt = not needs_receipt(envelope.type)
    sender = envelope.senderregion
    await _check_case_party(tx, envelope, region)
    if is_receipt and await tx.inbox.envelope(sender, envelope.id) is None:
        await accept_receipt(tx, envelope)
    inserted = await tx.inbox.add(
        InboxEntry(
            event_id=envelope.id,
            case_no=envelope.subject,
            event_type=envelope.type.value,
            sender_region=sender,
            envelope=record.value,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            trace_context=tracing.current_context_json(),  # the consumer span, for dispatch
            receipt=is_receipt,
        )
    )
    if not inserted:
        stored = await tx.inbox.envelope(sender, envelope.id)
        if stored != record.value:
            # Signed by the sender, yet not what it sent under this id before: whatever it
            # is, it must not be taken for the original (nor counted as its duplicate).
            raise Rejected(
                RejectReason.CONFLICTING_DUPLICATE,
                f"event {envelope.id} from {sender} was stored before with other bytes",
                sender,
            )
        await tx.inbox.count_duplicate(sender, envelope.id)
        if not is_receipt:
            # The sender resends only when it lost our receipt: send that receipt again.
            await answer(tx, envelope, stored, region, signer_at)
        return Stored.DUPLICATE
    # What the event brings of a case's file is taken in (or refused) with its inbox row.
    await (files or _NO_FILES).on_stored(tx, envelope)
    await message_log.append_to(tx.message_log, "accepted", envelope.id, record.value)
    if not is_receipt:
        rid = await answer(tx, envelope, record.value, region, signer_at)
        await tx.inbox.set_receipt(sender, envelope.id, rid)
    return Stored.ACCEPTED


def _unstorable(exc: Exception) -> Rejected:
    code = getattr(exc, "sqlstate", None)
    what = f"SQLSTATE {code}" if isinstance(code, str) else type(exc).__name__
    return Rejected(RejectReason.UNSTORABLE, f"verified, but storing it failed: {what}")


async def admit(
    stores: Stores,
    record: IncomingRecord,
    verify: Verifier,
    region: str,
    signer_at: SignerAt,
    max_raw_bytes: int = DEFAULT_QUARANTINE_RAW_BYTES,
    files: FileReceiver | None = None,
) -> Admission:
    """The inbound boundary for one record: it ends in the inbox or in quarantine.

    Only a database that is unavailable makes this raise (the caller reads the batch again);
    whatever the record holds becomes a rejection with a reason."""
    async with stores.transaction() as tx:
        refusal: Rejected
        try:
            envelope = verify(record.value)
            # A savepoint, so a rejection raised part-way leaves no half-stored event behind.
            async with tx.savepoint():
                stored = await store_verified(tx, record, envelope, region, signer_at, files)
            return Admission(stored, envelope)
        except Rejected as rejected:
            refusal = rejected
        except _CONTENT_REFUSED as exc:
            refusal = _unstorable(exc)
        except DATABASE_UNAVAILABLE:
            raise
        # A defect of ours that this record triggers must not stop the region either: the
        # record is set aside with the error's type, the next one is read.
        except Exception as exc:
            log.exception("inbox %s: storing a verified record failed", region)
            refusal = _unstorable(exc)
        await quarantine(tx, record, refusal, max_raw_bytes)
        return Admission(Stored.QUARANTINED, rejected=refusal)


async def store_incoming(
    conn: Conn,
    record: IncomingRecord,
    verify: Verifier,
    region: str,
    signer_at: SignerAt,
    max_raw_bytes: int = DEFAULT_QUARANTINE_RAW_BYTES,
    files: FileReceiver | None = None,
) -> Admission:
    """`admit` on the database behind `conn`; inside a transaction the caller opened there,
    the record's transaction nests as a savepoint."""
    return await admit(
        PostgresStores.on(conn), record, verify, region, signer_at, max_raw_bytes, files
    )
