"""Receipts (AS4 reception awareness): proof that a peer stored exactly what was sent.

The receiver answers each business event with a signed receipt carrying the SHA-256 of the
record bytes it stored, written to its outbox in the same transaction as the inbox row. A
duplicate arrival means the sender never saw that receipt, so it is sent again. Receipts are
never receipted themselves (that would never end) and never reach a workflow.

The sender accepts a receipt only for a business event in its own outbox that went to the
receipt's sender with the same bytes; anything else is quarantined, never taken as delivery.

Each receipt also states the receiver's own message-log head, which the sender keeps as an
anchor (events/log_anchors.py): deleting the newest rows of a log then shows in an audit.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from events import message_log
from events.envelope import Envelope, event_id_for
from events.models import EventReceipt, EventType
from events.outbox import enqueue_in, signed_envelope
from events.rejections import Rejected, RejectReason
from events.signing import RegionSigner
from events.stores.unit import Transaction

log = logging.getLogger(__name__)

SignerAt = Callable[[datetime], RegionSigner]


def record_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def needs_receipt(event_type: EventType) -> bool:
    return event_type is not EventType.RECEIPT


def receipt_id(received: Envelope, own_region: str) -> str:
    return event_id_for(received.subject, f"receipt/{received.id}", own_region)


def receipt_for(
    signer: RegionSigner,
    received: Envelope,
    raw: bytes,
    now: datetime,
    log_head: message_log.LogHead | None = None,
) -> Envelope:
    payload = EventReceipt(
        case_no=received.subject,
        receipted_event_id=received.id,
        receipted_digest=record_digest(raw),
        log_head_seq=log_head.seq if log_head else None,
        log_head_hash=log_head.hash.hex() if log_head else None,
    )
    return signed_envelope(
        signer,
        event_type=EventType.RECEIPT,
        case_no=received.subject,
        step=f"receipt/{received.id}",
        recipient=received.senderregion,
        data=payload.model_dump(mode="json"),
        now=now,
    )


async def answer(
    tx: Transaction, received: Envelope, raw: bytes, own_region: str, signer_at: SignerAt
) -> str:
    """Write the receipt for `received`, or re-arm it when it was written before.

    Runs in the caller's (inbox) unit of work. Re-arming sends the same receipt bytes again:
    the receipt row is made unsent, and the relay publishes it like any new row.
    """
    rid = receipt_id(received, own_region)
    if await tx.outbox.unsend([rid]):
        return rid
    now = datetime.now(UTC)
    # The head before the receipt's own row: a receipt cannot state its own hash.
    head = await tx.message_log.head()
    await enqueue_in(tx, receipt_for(signer_at(now), received, raw, now, head))
    return rid


async def accept_receipt(tx: Transaction, receipt: Envelope) -> None:
    """Record that a business event this node sent was received intact, or refuse."""
    payload = EventReceipt.model_validate(receipt.data)
    sent = await tx.outbox.sent_event(payload.receipted_event_id)
    if sent is None or not needs_receipt(EventType(sent.event_type)):
        raise Rejected(
            RejectReason.RECEIPT_UNKNOWN_EVENT,
            f"no business event {payload.receipted_event_id} was sent from here",
        )
    if sent.recipient_region != receipt.senderregion:
        raise Rejected(
            RejectReason.RECEIPT_MISMATCH,
            f"event {payload.receipted_event_id} was sent to {sent.recipient_region},"
            f" not to {receipt.senderregion}",
        )
    if sent.case_no != payload.case_no or payload.case_no != receipt.subject:
        raise Rejected(RejectReason.RECEIPT_MISMATCH, "receipt names another case")
    if record_digest(sent.envelope) != payload.receipted_digest:
        raise Rejected(
            RejectReason.RECEIPT_MISMATCH,
            f"digest does not match what was sent as {payload.receipted_event_id}",
        )
    if sent.failed and not sent.receipted:
        # The workflow was already told the transfer failed; an operator must reconcile.
        log.warning(
            "receipt for event %s arrived after its delivery was declared failed",
            payload.receipted_event_id,
        )
    await tx.outbox.mark_receipted(payload.receipted_event_id, receipt.id)
    if payload.log_head_seq is not None and payload.log_head_hash is not None:
        await tx.anchors.record(
            receipt.senderregion,
            payload.log_head_seq,
            bytes.fromhex(payload.log_head_hash),
            receipt.id,
        )
