"""One record too large for the exchange does not stop a region's outbox (issue 13, item 4).

Against the real stack: a record the producer refuses (over its 1 MiB request size, as the
broker's own limit would) sits at the head of a running node's outbox, and the next 50 cases
still close in both regions; the record is parked with its reason and `tongban outbox parked`
lists it. A second test has the broker itself answer MESSAGE_TOO_LARGE (a topic with a small
max.message.bytes) to the relay with the node's producer settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError

from deploy.stack.migrations import apply_migrations
from deploy.stack.settings import StackEndpoints, StackSettings
from events.models import EventType
from events.relay import PARK_TOO_LARGE, OutboxRelay, relay_producer_options
from events.stores.postgres import PostgresStores
from events.topics import inbox_topic
from regions.case_handles import processing_handle
from regions.local import ensure_local_keys, local_node_settings
from regions.node import node_services
from regions.window import submit_case
from tests.integration.automatic import AUTOMATIC_ENV, AUTOMATIC_POLICIES
from tests.integration.exchange_support import dsn, new_case_no, rows, tongban
from tests.integration.pair import ProvincePair, start_pair
from tests.support.stack_access import Bus
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
CASES = 50
# Over the producer's max_request_size (1 MiB) and the broker's message.max.bytes (~1 MiB).
OVERSIZE = 1024 * 1024 + 64 * 1024
# Stands in for personal data: it must never reach a log line or the CLI's output.
MARKER = "张三-" + secrets.token_hex(4)


async def _insert_raw(conn: asyncpg.Connection, topic: str, envelope: bytes) -> str:
    """An outbox row as `enqueue` writes one, but with bytes no budget would have let in."""
    event_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO outbox (event_id, case_no, event_type, recipient_region, topic, envelope)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        event_id,
        new_case_no(A),
        EventType.FORWARDED.value,
        B,
        topic,
        envelope,
    )
    await conn.execute("SELECT pg_notify('tongban_outbox', '')")
    return event_id


def _oversize_envelope(size: int) -> bytes:
    head = json.dumps({"id": "oversize", "data": {"applicant": MARKER}}, ensure_ascii=False)
    return (head + " " * (size - len(head.encode()))).encode()


@pytest.fixture(scope="module")
async def pair(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[ProvincePair]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    async with start_pair(stack, stack_settings, A, B, env=AUTOMATIC_ENV) as started:
        yield started


async def test_one_oversize_record_is_parked_and_the_next_50_cases_still_close(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    dsn_a, dsn_b = dsn(stack, A), dsn(stack, B)
    conn = await asyncpg.connect(dsn_a)
    try:
        oversize_id = await _insert_raw(conn, inbox_topic(B), _oversize_envelope(OVERSIZE))
    finally:
        await conn.close()

    try:
        origin = local_node_settings(A, stack_settings, stack)
        async with node_services(origin) as services:
            handles = await asyncio.gather(
                *(
                    submit_case(
                        pool=services.pool,
                        client=services.client,
                        credentials=services.credentials,
                        application=pair.application(),
                        policies=AUTOMATIC_POLICIES,
                    )
                    for _ in range(CASES)
                )
            )
        case_nos = [h.id.removeprefix("intake-") for h in handles]

        outcomes = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 90)
        assert {(o.status, o.outcome) for o in outcomes} == {("closed", "approved")}
        b_outcomes = await asyncio.wait_for(
            asyncio.gather(*(processing_handle(pair.clients[B], c).result() for c in case_nos)),
            30,
        )
        assert {(o.status, o.outcome) for o in b_outcomes} == {("closed", "approved")}
        for region_dsn in (dsn_a, dsn_b):
            closed = await rows(
                region_dsn,
                "SELECT count(*) AS n FROM cases WHERE case_no = ANY($1::text[])"
                " AND status = 'closed'",
                case_nos,
            )
            assert closed[0]["n"] == CASES

        (parked,) = await rows(
            dsn_a,
            "SELECT parked_at, park_reason, park_detail, sent_at, failed_at FROM outbox"
            " WHERE event_id = $1",
            oversize_id,
        )
        assert parked["parked_at"] is not None
        assert parked["sent_at"] is None
        assert parked["park_reason"] == PARK_TOO_LARGE
        assert "producer refused" in parked["park_detail"]
        assert parked["failed_at"] is not None  # its case workflow (if any) is told

        listed = await _cli("outbox", "parked", "--region", A, "--json")
        (entry,) = [r for r in json.loads(listed) if r["event_id"] == oversize_id]
        assert entry["reason"] == PARK_TOO_LARGE
        assert entry["bytes"] == OVERSIZE
        assert (entry["recipient"], entry["event_type"]) == (B, EventType.FORWARDED.value)
        assert MARKER not in listed

        node_log = pair.nodes[A].log_path.read_text(encoding="utf-8", errors="replace")
        assert f"ALARM outbox record parked: {EventType.FORWARDED.value} event {oversize_id}" in (
            node_log
        )
        assert MARKER not in node_log
    finally:
        # The shared region database keeps no trace of the stand-in record.
        await rows(dsn_a, "DELETE FROM outbox WHERE event_id = $1 RETURNING 1", oversize_id)


async def _cli(*args: str) -> str:
    done = await tongban(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextlib.asynccontextmanager
async def _scratch_database(stack: StackEndpoints, settings: StackSettings) -> AsyncIterator[str]:
    """A region database of its own, so no node's relay competes for the rows."""
    name = f"tongban_parking_{secrets.token_hex(4)}"
    server = await asyncpg.connect(stack.postgres_dsn)
    await server.execute(f'CREATE DATABASE "{name}"')
    scratch = urlunsplit(urlsplit(stack.postgres_dsn)._replace(path=f"/{name}"))
    try:
        await apply_migrations(scratch, settings.migrations_dir)
        yield scratch
    finally:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()


@contextlib.asynccontextmanager
async def _small_topic(bus: Bus, max_bytes: int) -> AsyncIterator[str]:
    """One partition (so a refused record and the ones after it share a producer sequence),
    with a broker-side limit the producer's own 1 MiB check does not know about. One replica
    is enough to be in sync, on the cluster profile (min.insync.replicas=2) too."""
    topic = f"tongban.test.parking.{secrets.token_hex(4)}"
    admin = bus.admin()
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    name=topic,
                    num_partitions=1,
                    replication_factor=1,
                    topic_configs={
                        "max.message.bytes": str(max_bytes),
                        "min.insync.replicas": "1",
                    },
                )
            ]
        )
        yield topic
    finally:
        with contextlib.suppress(KafkaError):
            await admin.delete_topics([topic])
        await admin.close()


async def _published(bus: Bus, topic: str, expected: int) -> list[bytes]:
    consumer = bus.consumer(topic, auto_offset_reset="earliest")
    await consumer.start()
    values: list[bytes] = []
    try:
        for _ in range(20):
            batches = await consumer.getmany(timeout_ms=500)
            values += [r.value for records in batches.values() for r in records if r.value]
            if len(values) >= expected:
                break
    finally:
        await consumer.stop()
    return values


async def test_a_record_the_broker_refuses_is_parked_and_the_rest_is_published(
    stack: StackEndpoints, stack_settings: StackSettings, bus: Bus
) -> None:
    async with (
        _scratch_database(stack, stack_settings) as scratch,
        _small_topic(bus, 64 * 1024) as topic,
    ):
        conn = await asyncpg.connect(scratch)
        try:
            before = [await _insert_raw(conn, topic, f"small-{i}".encode()) for i in range(2)]
            refused = await _insert_raw(conn, topic, _oversize_envelope(200 * 1024))
            after = [await _insert_raw(conn, topic, f"small-{i}".encode()) for i in range(2, 4)]
        finally:
            await conn.close()

        def producer() -> AIOKafkaProducer:  # as the node builds its own
            return bus.producer(**relay_producer_options())

        async def renew(old: AIOKafkaProducer) -> AIOKafkaProducer:
            with contextlib.suppress(KafkaError):
                await old.stop()
            fresh = producer()
            await fresh.start()
            return fresh

        pool = await asyncpg.create_pool(scratch, min_size=1, max_size=3)
        first = producer()
        await first.start()
        relay = OutboxRelay(
            PostgresStores(pool), first, region="scratch", renew=renew, idle_poll_seconds=0.2
        )
        running = asyncio.create_task(relay.run())
        try:

            async def settled() -> list[asyncpg.Record] | None:
                found = await pool.fetch(
                    "SELECT event_id, sent_at, parked_at, park_detail FROM outbox"
                    " WHERE sent_at IS NOT NULL OR parked_at IS NOT NULL"
                )
                return found if len(found) == 5 else None

            done = await eventually(settled, timeout=30, what="every row sent or parked")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await relay.producer.stop()
            await pool.close()

        state = {r["event_id"]: r for r in done}
        assert state[refused]["parked_at"] is not None
        assert state[refused]["sent_at"] is None
        assert "broker refused" in state[refused]["park_detail"]
        assert all(state[e]["sent_at"] is not None for e in before + after)
        assert all(state[e]["parked_at"] is None for e in before + after)
        published = await _published(bus, topic, 4)
        assert sorted(set(published)) == [f"small-{i}".encode() for i in range(4)]
