"""The inbox bridge: consumes this region's inbox topic, stores, commits, then dispatches.

Order per batch: store every record (inbox or quarantine) -> commit Kafka offsets -> hand the
accepted event ids to the dispatcher. A crash before the offset commit re-reads the batch
(duplicates are dropped by the inbox); a crash before dispatch leaves inbox rows undelivered,
which the dispatcher's sweep picks up. The same holds without a crash: when the database or
the broker fails mid-batch, the consumer goes back to the batch's first offsets and reads it
again once they answer, instead of stopping the node.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from events import instruments, tracing
from events.backoff import Backoff
from events.crash import BRIDGE_AFTER_OFFSET_COMMIT, BRIDGE_AFTER_STORE, NO_CRASH, CrashPoints
from events.envelope import Envelope
from events.inbox import IncomingRecord, Stored, Verifier, store_incoming
from events.pg import DATABASE_UNAVAILABLE
from events.receipts import SignerAt, needs_receipt

log = logging.getLogger(__name__)

Dispatch = Callable[[list[str]], Awaitable[None]]
# The database or the broker restarting: the batch is read again, nothing is lost or skipped.
_TRANSIENT: tuple[type[Exception], ...] = (KafkaError, *DATABASE_UNAVAILABLE)


@dataclass
class BridgeStats:
    counts: dict[Stored, int] = field(default_factory=lambda: dict.fromkeys(Stored, 0))


def _count(region: str, outcome: Stored, envelope: Envelope | None) -> None:
    if outcome is Stored.QUARANTINED:
        instruments.events_quarantined.add(1, {"region": region})
    elif envelope is not None:
        attrs = {"region": region, "type": envelope.type.value, "outcome": outcome.value}
        instruments.events_received.add(1, attrs)


class InboxBridge:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        consumer: AIOKafkaConsumer,
        verify: Verifier,
        region: str,
        dispatch: Dispatch,
        signer_at: SignerAt,
        crash: CrashPoints = NO_CRASH,
    ) -> None:
        self._pool = pool
        self._consumer = consumer
        self._verify = verify
        self._region = region
        self._dispatch = dispatch
        self._signer_at = signer_at
        self._crash = crash
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
        accepted: list[str] = []
        offsets: dict[TopicPartition, int] = {}
        async with self._pool.acquire() as conn:
            for tp, messages in batches.items():
                for message in messages:
                    record = IncomingRecord(
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=message.offset,
                        value=message.value or b"",
                        headers=tuple(message.headers or ()),
                    )
                    with tracing.consumer_span(
                        record.topic, record.headers, record.partition, record.offset
                    ):
                        outcome, envelope = await store_incoming(
                            conn, record, self._verify, self._region, self._signer_at
                        )
                    self.stats.counts[outcome] += 1
                    _count(self._region, outcome, envelope)
                    if outcome is Stored.QUARANTINED:
                        log.warning(
                            "inbox %s: quarantined record at %s/%d/%d",
                            self._region,
                            record.topic,
                            record.partition,
                            record.offset,
                        )
                    elif (
                        outcome is Stored.ACCEPTED
                        and envelope is not None
                        and needs_receipt(envelope.type)
                    ):
                        # Receipts only settle this node's outbox; no workflow waits for one.
                        accepted.append(envelope.id)
                    offsets[tp] = record.offset + 1
        if accepted:
            self._crash.hit(BRIDGE_AFTER_STORE)
        await self._consumer.commit(offsets)
        if accepted:
            self._crash.hit(BRIDGE_AFTER_OFFSET_COMMIT)
            # Stored and committed: a delivery that fails from here on is the sweeper's.
            await self._dispatch(accepted)
