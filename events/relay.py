"""The outbox relay: publishes committed outbox rows to the recipients' inbox topics.

Rows are taken in commit order with FOR UPDATE SKIP LOCKED, sent with an idempotent producer
keyed by case number (one partition per case, so a case's events stay in order), and marked
sent in the same transaction that locked them. A crash before the mark means the rows are
sent again: the receiver's inbox drops the duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from events import instruments, tracing
from events.backoff import Backoff
from events.crash import NO_CRASH, RELAY_AFTER_PUBLISH, RELAY_BEFORE_PUBLISH, CrashPoints
from events.models import EventType
from events.outbox import OUTBOX_CHANNEL
from events.pg import DATABASE_UNAVAILABLE
from events.resend_policy import ResendPolicy

log = logging.getLogger(__name__)

# Failures that mean "try again later": the service is restarting or unreachable.
_TRANSIENT: tuple[type[Exception], ...] = (KafkaError, *DATABASE_UNAVAILABLE)


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0


# The broker no longer knows this idempotent producer's id or sequence.
PRODUCER_STATE_LOST = (OutOfOrderSequenceNumber, UnknownProducerId, ProducerFenced)
# Stops the old producer and returns a started new one.
RenewProducer = Callable[[AIOKafkaProducer], Awaitable[AIOKafkaProducer]]


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 200,
        idle_poll_seconds: float = 1.0,
        resend: ResendPolicy | None = None,
        crash: CrashPoints = NO_CRASH,
        region: str = "",
        renew: RenewProducer | None = None,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._renew = renew
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._resend = resend or ResendPolicy()
        self._crash = crash
        self._region = region  # a metrics attribute only
        self._wake = asyncio.Event()
        self.stats = RelayStats()

    @property
    def producer(self) -> AIOKafkaProducer:
        return self._producer

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def publish_batch(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT event_id, case_no, event_type, topic, envelope, trace_context, attempts,"
                " extract(epoch FROM now() - created_at)::float8 AS lag_s FROM outbox"
                " WHERE sent_at IS NULL"
                " ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            business = any(r["event_type"] != EventType.RECEIPT.value for r in rows)
            if business:
                self._crash.hit(RELAY_BEFORE_PUBLISH)
            # send() only enqueues into the producer's batch; awaiting all the futures
            # afterwards keeps per-partition order and lets the batch go out together.
            pending = []
            for row in rows:
                # Trace context travels in headers, outside the signed bytes.
                with tracing.producer_span(
                    row["topic"], row["event_id"], row["event_type"], row["trace_context"]
                ) as headers:
                    pending.append(
                        await self._producer.send(
                            row["topic"],
                            value=bytes(row["envelope"]),
                            key=row["case_no"].encode(),
                            headers=headers,
                        )
                    )
            await asyncio.gather(*pending)
            if business:
                self._crash.hit(RELAY_AFTER_PUBLISH)
            # A business event now waits for its receipt: the resender looks again at
            # next_attempt_at, which backs off with each send. Receipts wait for nothing.
            policy = self._resend
            await conn.execute(
                "UPDATE outbox SET sent_at = now(), attempts = attempts + 1,"
                " next_attempt_at = CASE WHEN event_type = $2 THEN NULL ELSE now()"
                "  + make_interval(secs => LEAST($3 * power($4, attempts), $5)) END"
                " WHERE event_id = ANY($1::text[])",
                [row["event_id"] for row in rows],
                EventType.RECEIPT.value,
                policy.receipt_timeout.total_seconds(),
                policy.backoff,
                policy.max_wait.total_seconds(),
            )
        self.stats.published += len(rows)
        for row in rows:
            instruments.record_published(
                self._region, row["event_type"], row["attempts"], row["lag_s"]
            )
        return len(rows)

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._serve()
            except _TRANSIENT as exc:
                # Rows stay unsent and are retried; the broker or database may be restarting.
                self.stats.failures += 1
                log.warning(
                    "outbox relay: publish failed, retrying in %.1fs: %s", backoff.next_s, exc
                )
                if isinstance(exc, PRODUCER_STATE_LOST) and self._renew is not None:
                    # The broker forgot this producer's sequence (it restarted): the same
                    # producer would be refused forever. A new one republishes the rows; the
                    # receivers drop what they already have.
                    self._producer = await self._renew(self._producer)
                await backoff.wait()
            else:
                backoff.reset()

    async def _serve(self) -> None:
        """Publish until something fails, woken by NOTIFY on a connection of its own (taken
        anew after a failure: a restarted database closes it)."""
        async with self._pool.acquire() as listener:
            await listener.add_listener(OUTBOX_CHANNEL, self._on_notify)
            try:
                while True:
                    self._wake.clear()
                    if await self.publish_batch() == 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), self._idle_poll)
            finally:
                with contextlib.suppress(*DATABASE_UNAVAILABLE):
                    await listener.remove_listener(OUTBOX_CHANNEL, self._on_notify)
