"""The relay parks a record the producer or the broker refuses as too large and goes on with
the rest; any other failure still leaves the batch to be published again.

Fakes for speed; tests/integration/test_outbox_parking.py runs the same against the real
broker and a running province pair."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from events import instruments
from events.models import EventType
from events.relay import PARK_TOO_LARGE, OutboxRelay

FORWARDED = EventType.FORWARDED.value


def _row(event_id: str, event_type: str = FORWARDED) -> dict[str, object]:
    return {
        "event_id": event_id,
        "case_no": "350000-20261127-ABCDEFGH",
        "event_type": event_type,
        "recipient_region": "440000",
        "topic": "tongban.inbox.440000",
        "envelope": b'{"secret":"\xe5\xbc\xa0\xe4\xb8\x89"}',
        "trace_context": None,
        "attempts": 0,
        "size": 2_000_000,
        "lag_s": 0.1,
    }


class _Conn:
    def __init__(self, rows: list[dict[str, object]]) -> None:
        self.rows = rows
        self.executed: list[tuple[str, tuple[object, ...]]] = []

    async def fetch(self, sql: str, *args: object) -> list[dict[str, object]]:
        assert "parked_at IS NULL" in sql  # parked rows are never taken again
        rows, self.rows = self.rows, []
        return rows

    async def execute(self, sql: str, *args: object) -> str:
        self.executed.append((sql, args))
        return "UPDATE 1"

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    def parked(self) -> list[tuple[object, ...]]:
        return [args for sql, args in self.executed if "parked_at = now()" in sql]

    def marked_sent(self) -> list[object]:
        return [args[0] for sql, args in self.executed if "sent_at = now()" in sql]


class _Pool:
    def __init__(self, conn: _Conn) -> None:
        self.conn = conn

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[_Conn]:
        yield self.conn


class _Producer:
    """Refuses what the test says, as aiokafka does: a record over max_request_size when
    send() is called, a broker's answer through the record's future."""

    def __init__(self, refuse_now: set[str], fail_later: dict[str, Exception]) -> None:
        self._refuse_now = refuse_now
        self._fail_later = fail_later
        self.published: list[bytes] = []

    async def send(
        self, topic: str, *, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]:
        event_id = key.decode().rsplit("/", 1)[-1]
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if event_id in self._refuse_now:
            raise MessageSizeTooLargeError("The message is 2000000 bytes when serialized")
        if event_id in self._fail_later:
            future.set_exception(self._fail_later[event_id])
        else:
            self.published.append(key)
            future.set_result(None)
        return future


def _relay(
    rows: list[dict[str, object]],
    refuse_now: set[str] = frozenset(),  # type: ignore[assignment]
    fail_later: dict[str, Exception] | None = None,
) -> tuple[OutboxRelay, _Conn, _Producer]:
    # The fake producer tells rows apart by key: give each row its own case number.
    for row in rows:
        row["case_no"] = f"{row['case_no']}/{row['event_id']}"
    conn = _Conn(rows)
    producer = _Producer(set(refuse_now), fail_later or {})
    relay = OutboxRelay(cast(Any, _Pool(conn)), cast(Any, producer), region="350000")
    return relay, conn, producer


@pytest.fixture
def parked_metric(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    calls: list[tuple[str, str, str]] = []
    monkeypatch.setattr(instruments, "record_parked", lambda *args: calls.append(args))
    return calls


async def test_records_refused_as_too_large_are_parked_and_the_rest_is_sent(
    parked_metric: list[tuple[str, str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    rows = [_row("e1"), _row("big-client"), _row("e2"), _row("big-broker"), _row("e3")]
    relay, conn, producer = _relay(
        rows, refuse_now={"big-client"}, fail_later={"big-broker": MessageSizeTooLargeError()}
    )
    with caplog.at_level(logging.ERROR, logger="events.relay"):
        assert await relay.publish_batch() == 5

    parked = {args[0]: args for args in conn.parked()}
    assert set(parked) == {"big-client", "big-broker"}
    assert all(args[1] == PARK_TOO_LARGE for args in parked.values())
    assert "producer refused" in str(parked["big-client"][2])
    assert "broker refused" in str(parked["big-broker"][2])
    assert conn.marked_sent() == [["e1", "e2", "e3"]]
    assert len(producer.published) == 3
    assert (relay.stats.published, relay.stats.parked) == (3, 2)
    assert parked_metric == [("350000", FORWARDED, PARK_TOO_LARGE)] * 2
    alarms = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(alarms) == 2
    assert all("ALARM" in r.getMessage() for r in alarms)
    assert all("张三" not in r.getMessage() for r in caplog.records)


async def test_a_transient_failure_still_retries_the_batch_but_keeps_the_parking(
    parked_metric: list[tuple[str, str, str]],
) -> None:
    rows = [_row("e1"), _row("big"), _row("e2")]
    relay, conn, _ = _relay(
        rows, refuse_now={"big"}, fail_later={"e2": KafkaConnectionError("broker away")}
    )
    with pytest.raises(KafkaConnectionError):
        await relay.publish_batch()
    assert [args[0] for args in conn.parked()] == ["big"]
    assert conn.marked_sent() == []  # e1 and e2 stay unsent and are published again
    assert relay.stats.parked == 1


async def test_a_parked_receipt_is_not_reported_to_a_case_workflow(
    parked_metric: list[tuple[str, str, str]],
) -> None:
    relay, conn, _ = _relay([_row("r1", EventType.RECEIPT.value)], refuse_now={"r1"})
    await relay.publish_batch()
    (sql, args), *_ = conn.executed
    # failed_at (which makes the resender tell the case workflow) is left as it was.
    assert "CASE WHEN event_type = $4 THEN failed_at" in sql
    assert args[3] == EventType.RECEIPT.value
