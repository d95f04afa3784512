"""The outbox relay: publishes committed outbox rows to the recipients' inbox topics.

Rows are taken in commit order with FOR UPDATE SKIP LOCKED, sent with an idempotent producer
keyed by case number (one partition per case, so a case's events stay in order), and marked
sent in the same transaction that locked them. A crash before the mark means the rows are
sent again: the receiver's inbox drops the duplicates.

A record the producer or the broker refuses as too large is parked (the row keeps why and
when, a metric and an ERROR alarm say so) instead of failing the batch: no retry can make it
smaller, and a batch that fails is retried from its first row, so one such record would stop
the region's whole outbox. The rest of the batch goes on. The broker refuses a producer batch
as a whole, so rows refused together are first sent again one by one: only a row refused
alone is parked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnknownProducerId,
)

from events import instruments, tracing
from events.backoff import Backoff
from events.crash import NO_CRASH, RELAY_AFTER_PUBLISH, RELAY_BEFORE_PUBLISH, CrashPoints
from events.idle import IdlePacer
from events.models import EventType
from events.pg import DATABASE_UNAVAILABLE
from events.resend_policy import ResendPolicy
from events.stores.exchange import PendingSend, ResendSchedule
from events.stores.unit import Stores, Transaction

log = logging.getLogger(__name__)

# Failures that mean "try again later": the service is restarting or unreachable.
_TRANSIENT: tuple[type[Exception], ...] = (KafkaError, *DATABASE_UNAVAILABLE)

# The producer's own size check (max_request_size) or the broker's MESSAGE_TOO_LARGE /
# RECORD_LIST_TOO_LARGE answer: the same bytes will be refused every time.
TOO_LARGE: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
PARK_TOO_LARGE = "record_too_large"

# The relay producer's batch per partition (aiokafka's max_batch_size). One step's records
# (its events, a document's manifest and chunks) leave in one batch and the receiver reads
# them in one poll: with aiokafka's 16 KiB each chunk went alone, and the receiver took one
# step in three polls and transactions. Half the broker's ~1 MiB message.max.bytes: a batch
# is at most this or one record (the outbox budget keeps a record under 960 KiB).
RELAY_BATCH_BYTES = 512 * 1024


def relay_producer_options() -> dict[str, Any]:
    """The relay producer's settings beside the connection's (decision 0054)."""
    return {"enable_idempotence": True, "linger_ms": 5, "max_batch_size": RELAY_BATCH_BYTES}


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0
    parked: int = 0


@dataclass(frozen=True)
class _Parked:
    row: PendingSend
    detail: str


# The broker no longer knows this idempotent producer's id or sequence.
PRODUCER_STATE_LOST = (OutOfOrderSequenceNumber, UnknownProducerId, ProducerFenced)
# Stops the old producer and returns a started new one.
RenewProducer = Callable[[AIOKafkaProducer], Awaitable[AIOKafkaProducer]]


class OutboxRelay:
    def __init__(
        self,
        stores: Stores,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 200,
        idle_poll_seconds: float = 1.0,
        idle_ceiling_seconds: float = 30.0,
        on_sent: Callable[[], None] | None = None,
        resend: ResendPolicy | None = None,
        crash: CrashPoints = NO_CRASH,
        region: str = "",
        renew: RenewProducer | None = None,
    ) -> None:
        self._stores = stores
        self._producer = producer
        self._renew = renew
        self._batch_size = batch_size
        self._resend = resend or ResendPolicy()
        self._crash = crash
        self._region = region  # a metrics attribute only
        # Woken by each commit that adds outbox rows (NOTIFY); while none come, it looks
        # less and less often, up to the ceiling (a lost NOTIFY is found that late).
        self._pacer = IdlePacer(idle_poll_seconds, max(idle_poll_seconds, idle_ceiling_seconds))
        self._on_sent = on_sent
        # Rows the broker refused in a batch with others: each is sent alone until settled.
        self._alone: set[str] = set()
        self.stats = RelayStats()

    @property
    def producer(self) -> AIOKafkaProducer:
        return self._producer

    async def publish_batch(self) -> int:
        """Publish the next rows; returns how many were settled (sent or parked)."""
        parked: list[_Parked] = []
        failure: BaseException | None = None
        async with self._stores.transaction() as tx:
            rows = await tx.outbox.take_unsent(self._batch_size)
            if not rows:
                return 0
            business = any(r.event_type != EventType.RECEIPT.value for r in rows)
            if business:
                self._crash.hit(RELAY_BEFORE_PUBLISH)
            # send() only enqueues into the producer's batch; awaiting all the futures
            # afterwards keeps per-partition order and lets the batch go out together.
            pending: list[tuple[PendingSend, asyncio.Future[object]]] = []
            for row in rows:
                alone = row.event_id in self._alone
                if alone and pending:
                    await asyncio.wait([f for _, f in pending])  # the rows before go first
                try:
                    pending.append((row, await self._send(row)))
                except TOO_LARGE as exc:
                    parked.append(_Parked(row, f"the producer refused it: {exc}"))
                    continue
                if alone:
                    await asyncio.wait([pending[-1][1]])  # and the rows after, later
            outcomes = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
            sent: list[PendingSend] = []
            for (row, _), outcome in zip(pending, outcomes, strict=True):
                if isinstance(outcome, TOO_LARGE):
                    if row.event_id in self._alone or len(pending) == 1:
                        parked.append(
                            _Parked(row, f"the broker refused it ({type(outcome).__name__})")
                        )
                    else:
                        # The broker refuses a whole batch for its size: this row may only
                        # have shared it with a record too large. Sent alone next time, it
                        # is parked only if refused alone.
                        self._alone.add(row.event_id)
                        failure = failure or outcome
                elif isinstance(outcome, BaseException):
                    failure = failure or outcome
                else:
                    sent.append(row)
            if business and sent:
                self._crash.hit(RELAY_AFTER_PUBLISH)
            await self._park(tx, parked)
            # Any other failure leaves every unparked row unsent, to be published again
            # (as before parking existed); only the parking commits.
            if failure is None:
                await self._mark_sent(tx, sent)
                self._alone.difference_update(r.event_id for r in sent)
            self._alone.difference_update(entry.row.event_id for entry in parked)
        for entry in parked:
            self._alarm(entry)
        if failure is not None:
            raise failure
        self.stats.published += len(sent)
        if self._on_sent is not None and any(r.event_type != EventType.RECEIPT.value for r in sent):
            self._on_sent()  # business events now wait for receipts: the resender looks
        for row in sent:
            instruments.record_published(self._region, row.event_type, row.attempts, row.lag_s)
        return len(rows)

    async def _send(self, row: PendingSend) -> asyncio.Future[object]:
        # Trace context travels in headers, outside the signed bytes.
        with tracing.producer_span(
            row.topic, row.event_id, row.event_type, row.trace_context
        ) as headers:
            future: asyncio.Future[object] = await self._producer.send(
                row.topic, value=row.envelope, key=row.case_no.encode(), headers=headers
            )
            return future

    async def _mark_sent(self, tx: Transaction, sent: list[PendingSend]) -> None:
        # A business event now waits for its receipt: the resender looks again when its
        # wait, which backs off with each send, is over. Receipts wait for nothing.
        if not sent:
            return
        policy = self._resend
        schedule = ResendSchedule(
            first_wait_s=policy.receipt_timeout.total_seconds(),
            backoff=policy.backoff,
            max_wait_s=policy.max_wait.total_seconds(),
        )
        await tx.outbox.mark_sent([row.event_id for row in sent], EventType.RECEIPT.value, schedule)

    async def _park(self, tx: Transaction, parked: list[_Parked]) -> None:
        # A parked business event will never be receipted: marked failed too, the resender
        # tells the case workflow at once (A compensates a forwarded case) instead of the
        # case waiting out its answer deadline. Receipts have no workflow waiting on them.
        for entry in parked:
            await tx.outbox.park(
                entry.row.event_id, PARK_TOO_LARGE, entry.detail, EventType.RECEIPT.value
            )

    def _alarm(self, entry: _Parked) -> None:
        row = entry.row
        self.stats.parked += 1
        instruments.record_parked(self._region, row.event_type, PARK_TOO_LARGE)
        # Ids, types, region codes and sizes only: never anything from the payload.
        log.error(
            "ALARM outbox record parked: %s event %s to %s is %d bytes, %s;"
            " the rest of the outbox goes on (tongban outbox parked --region %s)",
            row.event_type,
            row.event_id,
            row.recipient_region,
            row.size,
            entry.detail,
            self._region or "<region>",
        )

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
        """Publish until something fails or the wake-ups stop, woken by each commit that
        gives it rows (the wake-ups are taken anew then: a restarted database drops them,
        and the relay would otherwise look only at its idle ceiling)."""
        async with self._stores.outbox_wakeups(self._pacer.wake) as listening:
            while listening():
                if await self.publish_batch() == 0:
                    await self._pacer.wait(found_work=False)
                else:
                    self._pacer.reset()
        log.warning("outbox relay %s: wake-ups lost; listening anew", self._region)
