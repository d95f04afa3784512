"""The inbox bridge: consumes this region's inbox topic, stores, commits, then dispatches.

Order per batch: store every record (inbox or quarantine), all in one transaction -> commit
Kafka offsets -> hand the accepted event ids to the dispatcher. A crash before the offset
commit re-reads the batch (duplicates are dropped by the inbox); a crash before dispatch leaves
inbox rows undelivered, which the dispatcher's sweep picks up. The same holds without a crash:
when the database or the broker fails mid-batch, the consumer goes back to the batch's first
offsets and reads it again once they answer, instead of stopping the node.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from events import instruments, tracing
from events.backoff import Backoff
from events.crash import BRIDGE_AFTER_OFFSET_COMMIT, BRIDGE_AFTER_STORE, NO_CRASH, CrashPoints
from events.file_receiving import FileReceiver
from events.inbox import (
    DEFAULT_QUARANTINE_RAW_BYTES,
    Admission,
    InboxKey,
    IncomingRecord,
    Stored,
    Verifier,
    admit,
)
from events.pg import DATABASE_UNAVAILABLE
from events.receipts import SignerAt, needs_receipt
from events.stores.unit import Stores

log = logging.getLogger(__name__)

Dispatch = Callable[[list[InboxKey]], Awaitable[None]]
# The database or the broker restarting: the batch is read again, nothing is lost or skipped.
_TRANSIENT: tuple[type[Exception], ...] = (KafkaError, *DATABASE_UNAVAILABLE)


@dataclass
class BridgeStats:
    counts: dict[Stored, int] = field(default_factory=lambda: dict.fromkeys(Stored, 0))


def count_admission(region: str, admission: Admission) -> None:
    """Per sender, so that a flood from one region is visible as such. A refused record's
    sender is only what it claims (or "unknown"), which is still where to look first."""
    if admission.rejected is not None:
        instruments.events_quarantined.add(
            1,
            {
                "region": region,
                "reason": admission.rejected.reason.value,
                "sender": admission.rejected.sender or "unknown",
            },
        )
    elif admission.envelope is not None:
        attrs = {
            "region": region,
            "type": admission.envelope.type.value,
            "outcome": admission.stored.value,
            "sender": admission.envelope.senderregion,
        }
        instruments.events_received.add(1, attrs)


def _headers(message: ConsumerRecord[bytes, bytes]) -> tuple[tuple[str, bytes], ...]:
    # Kafka allows a header without a value; downstream code expects bytes.
    return tuple((str(key), value or b"") for key, value in (message.headers or ()))


class InboxBridge:
    def __init__(
        self,
        *,
        stores: Stores,
        consumer: AIOKafkaConsumer,
        verify: Verifier,
        region: str,
        dispatch: Dispatch,
        signer_at: SignerAt,
        crash: CrashPoints = NO_CRASH,
        quarantine_raw_bytes: int = DEFAULT_QUARANTINE_RAW_BYTES,
        files: FileReceiver | None = None,
    ) -> None:
        self._stores = stores
        self._consumer = consumer
        self._verify = verify
        self._region = region
        self._dispatch = dispatch
        self._signer_at = signer_at
        self._crash = crash
        self._quarantine_raw_bytes = quarantine_raw_bytes
        self._files = files
        self.stats = BridgeStats()

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            batches: dict[TopicPartition, list[ConsumerRecord]] = {}
            try:
                batches = await self._consumer.getmany(timeout_ms=1000, max_records=200)
                if batches:
                    await self.handle(batches)
            except _TRANSIENT as exc:
                log.warning(
                    "inbox %s: batch not stored, reading it again in %.1fs: %s",
                    self._region,
                    backoff.next_s,
                    exc,
                )
                # Rows stored before the failure are found again and dropped by the inbox.
                for tp, messages in batches.items():
                    self._consumer.seek(tp, messages[0].offset)
                await backoff.wait()
            else:
                backoff.reset()

    async def handle(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        accepted: list[InboxKey] = []
        offsets: dict[TopicPartition, int] = {}
        # The batch is one transaction (each record a savepoint of it, so a record refused
        # part-way leaves nothing behind): one commit per poll instead of one per record.
        # Should the commit fail, the batch is read again and nothing of it was kept.
        async with self._stores.pinned() as stores, stores.transaction():
            for tp, messages in batches.items():
                for message in messages:
                    record = IncomingRecord(
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=message.offset,
                        value=message.value or b"",
                        headers=_headers(message),
                    )
                    with tracing.consumer_span(
                        record.topic, record.headers, record.partition, record.offset
                    ):
                        admission = await admit(
                            stores,
                            record,
                            self._verify,
                            self._region,
                            self._signer_at,
                            self._quarantine_raw_bytes,
                            self._files,
                        )
                    self.stats.counts[admission.stored] += 1
                    count_admission(self._region, admission)
                    envelope = admission.envelope
                    if admission.rejected is not None:
                        log.warning(
                            "inbox %s: quarantined record at %s/%d/%d: %s",
                            self._region,
                            record.topic,
                            record.partition,
                            record.offset,
                            admission.rejected.reason.value,
                        )
                    elif (
                        admission.stored is Stored.ACCEPTED
                        and envelope is not None
                        and needs_receipt(envelope.type)
                    ):
                        # Receipts only settle this node's outbox; no workflow waits for one.
                        accepted.append((envelope.senderregion, envelope.id))
                    offsets[tp] = record.offset + 1
        if accepted:
            self._crash.hit(BRIDGE_AFTER_STORE)
        await self._consumer.commit(offsets)
        if accepted:
            self._crash.hit(BRIDGE_AFTER_OFFSET_COMMIT)
            # Stored and committed: a delivery that fails from here on is the sweeper's.
            try:
                await self._dispatch(accepted)
            except _TRANSIENT:
                raise
            except Exception:
                # The rows are safe in the inbox; a defect in delivery must not stop the
                # intake of every other record.
                log.exception("inbox %s: dispatch failed; left to the sweeper", self._region)
