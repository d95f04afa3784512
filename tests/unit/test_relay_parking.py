"""The relay publishes outbox rows in the order they were written and settles each: sent (a
business event then waits for its receipt), or parked when the producer or the broker refuses
it as too large, while the rest of the batch goes on; any other failure leaves the batch to be
published again.

On the in-memory stores (events/stores/memory.py), which keep the outbox's states as the SQL
does; tests/integration/test_outbox_parking.py runs the same against the real broker."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from events import instruments
from events.models import EventType
from events.relay import PARK_TOO_LARGE, OutboxRelay
from events.resend_policy import ResendPolicy
from events.stores.exchange import OutboxEntry
from events.stores.memory import MemoryStores, OutboxRow

FORWARDED = EventType.FORWARDED.value
RECEIPT = EventType.RECEIPT.value
POLICY = ResendPolicy(receipt_timeout=timedelta(seconds=30), backoff=2.0)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class _Producer:
    """Refuses what the test says, as aiokafka does: a record over max_request_size when
    send() is called, a broker's answer through the record's future. Records sent without the
    relay waiting in between travel in one batch, and the broker refuses a batch holding a
    record over its limit as a whole. Rows are told apart by key: each test row has a case
    number of its own."""

    def __init__(
        self,
        refuse_now: frozenset[str] = frozenset(),
        fail_later: dict[str, Exception] | None = None,
        over_broker_limit: frozenset[str] = frozenset(),
    ) -> None:
        self.refuse_now = set(refuse_now)
        self.fail_later = dict(fail_later or {})
        self.over_broker_limit = set(over_broker_limit)
        self.published: list[str] = []
        self.batches: list[list[str]] = []
        self.any_published = asyncio.Event()
        self._batch: list[tuple[str, asyncio.Future[object]]] = []

    async def send(
        self, topic: str, *, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        event_id = key.decode().rsplit("/", 1)[-1]
        if event_id in self.refuse_now:
            raise MessageSizeTooLargeError("The message is 2000000 bytes when serialized")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch.append((event_id, future))
        return future

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        self.batches.append([event_id for event_id, _ in batch])
        too_large = any(event_id in self.over_broker_limit for event_id, _ in batch)
        for event_id, future in batch:
            if too_large:
                future.set_exception(MessageSizeTooLargeError())
            elif event_id in self.fail_later:
                future.set_exception(self.fail_later[event_id])
            else:
                self.published.append(event_id)
                self.any_published.set()
                future.set_result(None)


async def _written(stores: MemoryStores, *rows: tuple[str, str]) -> None:
    async with stores.transaction() as tx:
        for event_id, event_type in rows:
            await tx.outbox.add(
                OutboxEntry(
                    event_id=event_id,
                    case_no=f"350000-20261127-ABCDEFGH/{event_id}",
                    event_type=event_type,
                    recipient_region="440000",
                    topic="tongban.inbox.440000",
                    envelope='{"secret":"张三"}'.encode(),
                    trace_context=None,
                )
            )


def _relay(stores: MemoryStores, producer: _Producer) -> OutboxRelay:
    return OutboxRelay(stores, cast(Any, producer), region="350000", resend=POLICY)


def _row(stores: MemoryStores, event_id: str) -> OutboxRow:
    return stores.tables.outbox[event_id]


@pytest.fixture
def parked_metric(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    calls: list[tuple[str, str, str]] = []
    monkeypatch.setattr(instruments, "record_parked", lambda *args: calls.append(args))
    return calls


async def test_rows_are_published_in_the_order_written_and_then_wait_for_receipts() -> None:
    clock = Clock()
    stores = MemoryStores(clock)
    await _written(stores, ("e1", FORWARDED), ("r1", RECEIPT), ("e2", FORWARDED))
    producer = _Producer()
    assert await _relay(stores, producer).publish_batch() == 3

    assert producer.published == ["e1", "r1", "e2"]
    assert producer.batches == [["e1", "r1", "e2"]]  # together, not one by one
    assert all(_row(stores, e).sent_at == clock.now for e in ("e1", "r1", "e2"))
    assert _row(stores, "e1").next_attempt_at == clock.now + POLICY.receipt_timeout
    assert _row(stores, "r1").next_attempt_at is None  # receipts wait for nothing
    assert await _relay(stores, producer).publish_batch() == 0  # nothing is sent twice


async def test_a_resent_event_waits_longer_for_its_receipt() -> None:
    clock = Clock()
    stores = MemoryStores(clock)
    await _written(stores, ("e1", FORWARDED))
    relay = _relay(stores, _Producer())
    await relay.publish_batch()
    async with stores.transaction() as tx:
        assert await tx.outbox.unsend(["e1"]) == 1  # as the resender does
    await relay.publish_batch()
    row = _row(stores, "e1")
    assert row.attempts == 2
    assert row.next_attempt_at == clock.now + POLICY.wait_after(2)


async def test_records_refused_as_too_large_are_parked_and_the_rest_is_sent(
    parked_metric: list[tuple[str, str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    stores = MemoryStores(Clock())
    ids = ["e1", "big-client", "e2", "big-broker", "e3"]
    await _written(stores, *((e, FORWARDED) for e in ids))
    producer = _Producer(
        refuse_now=frozenset({"big-client"}), over_broker_limit=frozenset({"big-broker"})
    )
    relay = _relay(stores, producer)
    with caplog.at_level(logging.ERROR, logger="events.relay"):
        # The producer's own refusal is final; the broker refused the batch as a whole, so
        # none of its rows is parked yet: each goes again alone.
        with pytest.raises(MessageSizeTooLargeError):
            await relay.publish_batch()
        assert producer.batches == [["e1", "e2", "big-broker", "e3"]]
        assert [_row(stores, e).parked_at is None for e in ids] == [True, False, True, True, True]
        assert await relay.publish_batch() == 4

    assert producer.batches[1:] == [["e1"], ["e2"], ["big-broker"], ["e3"]]
    assert producer.published == ["e1", "e2", "e3"]
    assert all(_row(stores, e).sent_at is not None for e in ("e1", "e2", "e3"))
    for event_id, refused_by in (("big-client", "producer refused"), ("big-broker", "broker")):
        row = _row(stores, event_id)
        assert (row.sent_at, row.park_reason) == (None, PARK_TOO_LARGE)
        assert refused_by in str(row.park_detail)
        # Never receipted: failed at once, so the case workflow hears of it now.
        assert row.failed_at is not None
        assert str(row.failure_reason).startswith("parked: ")
    assert (relay.stats.published, relay.stats.parked) == (3, 2)
    assert parked_metric == [("350000", FORWARDED, PARK_TOO_LARGE)] * 2
    alarms = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(alarms) == 2
    assert all("ALARM" in r.getMessage() for r in alarms)
    assert all("张三" not in r.getMessage() for r in caplog.records)
    # Parked rows are never taken again, and what was sent alone goes in batches again.
    assert await relay.publish_batch() == 0
    await _written(stores, ("e4", FORWARDED), ("e5", FORWARDED))
    assert await relay.publish_batch() == 2
    assert producer.batches[-1] == ["e4", "e5"]


async def test_a_record_too_large_alone_is_parked_at_once(
    parked_metric: list[tuple[str, str, str]],
) -> None:
    stores = MemoryStores(Clock())
    await _written(stores, ("big", FORWARDED))
    producer = _Producer(over_broker_limit=frozenset({"big"}))
    assert await _relay(stores, producer).publish_batch() == 1
    assert _row(stores, "big").park_reason == PARK_TOO_LARGE
    assert producer.published == []


async def test_a_transient_failure_retries_the_batch_but_keeps_the_parking(
    parked_metric: list[tuple[str, str, str]],
) -> None:
    stores = MemoryStores(Clock())
    await _written(stores, ("e1", FORWARDED), ("big", FORWARDED), ("e2", FORWARDED))
    producer = _Producer(
        refuse_now=frozenset({"big"}), fail_later={"e2": KafkaConnectionError("broker away")}
    )
    relay = _relay(stores, producer)
    with pytest.raises(KafkaConnectionError):
        await relay.publish_batch()
    assert _row(stores, "big").parked_at is not None
    assert [_row(stores, e).sent_at for e in ("e1", "e2")] == [None, None]
    assert relay.stats.parked == 1

    producer.fail_later.clear()
    assert await relay.publish_batch() == 2
    assert producer.published == ["e1", "e1", "e2"]  # e1 again: the receiver drops it
    assert [_row(stores, e).attempts for e in ("e1", "e2")] == [1, 1]


async def test_a_parked_receipt_is_not_reported_to_a_case_workflow(
    parked_metric: list[tuple[str, str, str]],
) -> None:
    stores = MemoryStores(Clock())
    await _written(stores, ("r1", RECEIPT))
    await _relay(stores, _Producer(refuse_now=frozenset({"r1"}))).publish_batch()
    row = _row(stores, "r1")
    assert row.parked_at is not None
    assert (row.failed_at, row.failure_reason) == (None, None)


class _WatchedStores(MemoryStores):
    def __init__(self) -> None:
        super().__init__()
        self.looked = asyncio.Event()

    def transaction(self) -> Any:
        self.looked.set()
        return super().transaction()


async def test_a_running_relay_is_woken_by_a_commit_not_by_its_poll() -> None:
    stores = _WatchedStores()
    producer = _Producer()
    relay = OutboxRelay(stores, cast(Any, producer), region="350000", idle_poll_seconds=3600)
    running = asyncio.create_task(relay.run())
    try:
        # Nothing in the in-memory stores suspends: once the relay has looked and yielded,
        # it waits on its wake-up (its poll would take an hour).
        await stores.looked.wait()
        await _written(stores, ("e1", FORWARDED))
        async with asyncio.timeout(5):
            await producer.any_published.wait()
        assert producer.published == ["e1"]
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
