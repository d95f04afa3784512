"""One contract, two implementations: the same scenarios against the Postgres stores (a
scratch region database with every migration) and the in-memory ones, so the fast unit tests
of the relay, bridge and dispatcher run on stores that behave like the real ones."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from deploy.stack.migrations import apply_migrations
from deploy.stack.settings import StackEndpoints, StackSettings
from events import message_log
from events.stores.cases import NewCase
from events.stores.exchange import InboxEntry, OutboxEntry, QuarantineEntry, ResendSchedule
from events.stores.memory import MemoryStores
from events.stores.postgres import PostgresStores
from events.stores.unit import ContentRefused, Stores
from regions.database import create_pool

pytestmark = pytest.mark.integration

CASE = "350000-20261127-ABCDEFGH"
RECEIPT = "receipt"
SCHEDULE = ResendSchedule(first_wait_s=30, backoff=2, max_wait_s=3600)


@pytest.fixture
async def postgres_stores(
    stack: StackEndpoints, stack_settings: StackSettings
) -> AsyncIterator[Stores]:
    """A scratch region database with every migration, dropped afterwards."""
    name = f"tongban_stores_{secrets.token_hex(4)}"
    server = await asyncpg.connect(stack.postgres_dsn)
    await server.execute(f'CREATE DATABASE "{name}"')
    scratch = urlunsplit(urlsplit(stack.postgres_dsn)._replace(path=f"/{name}"))
    try:
        await apply_migrations(scratch, stack_settings.migrations_dir)
        pool = await create_pool(scratch, min_size=1, max_size=2)
        try:
            yield PostgresStores(pool)
        finally:
            await pool.close()
    finally:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()


@pytest.fixture(params=["postgres", "memory"])
def stores(request: pytest.FixtureRequest) -> Stores:
    # The shared stack only for the Postgres stores.
    if request.param == "memory":
        return MemoryStores()
    found: Stores = request.getfixturevalue("postgres_stores")
    return found


def _outbox(event_id: str, event_type: str = "forwarded") -> OutboxEntry:
    return OutboxEntry(
        event_id=event_id,
        case_no=CASE,
        event_type=event_type,
        recipient_region="440000",
        topic="tongban.inbox.440000",
        envelope=event_id.encode(),
        trace_context=None,
    )


def _inbox(sender: str, event_id: str, case_no: str = CASE) -> InboxEntry:
    return InboxEntry(
        event_id=event_id,
        case_no=case_no,
        event_type="decided",
        sender_region=sender,
        envelope=f"{sender}/{event_id}".encode(),
        topic="tongban.inbox.350000",
        partition=0,
        offset=0,
        trace_context=None,
        receipt=False,
    )


def _case(case_no: str, key: str | None = None) -> NewCase:
    return NewCase(
        case_no=case_no,
        role="origin",
        item_code="GG-00102-000",
        item_version=1,
        origin_region="350000",
        processing_region="440000",
        applicant_sealed={"key_id": "k1", "recipient": "350000", "nested": {"a": [1, 2]}},
        materials=[{"name": "居民身份证", "sha256": "a" * 64, "ref": "window://1"}],
        fee_fen=100,
        submission_window="window-1" if key else None,
        submission_key=key,
    )


async def test_outbox_rows_move_through_their_states(stores: Stores) -> None:
    async with stores.transaction() as tx:
        for event_id in ("e2", "e1", "r1", "big"):
            kind = RECEIPT if event_id.startswith("r") else "forwarded"
            assert await tx.outbox.add(_outbox(event_id, kind))
        assert not await tx.outbox.add(_outbox("e1"))
        assert await tx.outbox.seconds_to_next_resend() is None  # nothing sent yet
    async with stores.transaction() as tx:
        taken = await tx.outbox.take_unsent(10)
        assert [r.event_id for r in taken] == ["e2", "e1", "r1", "big"]
        unsent, oldest_s = await tx.outbox.backlog()
        assert unsent == 4
        assert 0 <= oldest_s < 60
        await tx.outbox.mark_sent(["e2", "e1", "r1"], RECEIPT, SCHEDULE)
        await tx.outbox.park("big", "record_too_large", "2 MB", RECEIPT)
    async with stores.transaction() as tx:
        assert await tx.outbox.take_unsent(10) == []
        assert await tx.outbox.due_for_resend(10) == []  # waiting 30 s for receipts
        # The resender sleeps until then: the two business events' waits, not the receipt's.
        due_s = await tx.outbox.seconds_to_next_resend()
        assert due_s is not None
        assert 0 < due_s <= SCHEDULE.first_wait_s
        assert (await tx.outbox.backlog())[0] == 0
        failed = await tx.outbox.failures_to_signal(10)
        assert [(f.event_id, f.failure_reason) for f in failed] == [("big", "parked: 2 MB")]
        await tx.outbox.mark_receipted("e1", "rcpt-1")
        await tx.outbox.mark_receipted("e1", "rcpt-2")
        sent = await tx.outbox.sent_event("e1")
        assert sent is not None
        assert (sent.receipted, sent.failed) == (True, False)
        assert await tx.outbox.unsend(["e2", "missing"]) == 1
        assert [r.event_id for r in await tx.outbox.take_unsent(10)] == ["e2"]
        # e1 receipted, e2 to be sent again, the rest no business event: no wait runs.
        assert await tx.outbox.seconds_to_next_resend() is None
        await tx.outbox.mark_failure_signalled("big", None)
        assert await tx.outbox.failures_to_signal(10) == []


async def test_a_parked_receipt_is_not_failed(stores: Stores) -> None:
    async with stores.transaction() as tx:
        await tx.outbox.add(_outbox("r1", RECEIPT))
        await tx.outbox.park("r1", "record_too_large", "2 MB", RECEIPT)
        assert await tx.outbox.failures_to_signal(10) == []
        assert await tx.outbox.take_unsent(10) == []


async def test_inbox_rows_are_unique_per_sender_and_delivered_in_order(stores: Stores) -> None:
    async with stores.transaction() as tx:
        assert await tx.inbox.add(_inbox("440000", "e1"))
    async with stores.transaction() as tx:
        assert await tx.inbox.add(_inbox("440000", "e2"))
        assert await tx.inbox.add(_inbox("110000", "e1"))  # another sender, same id
        assert not await tx.inbox.add(_inbox("440000", "e1"))
        await tx.inbox.count_duplicate("440000", "e1")
        await tx.inbox.count_duplicate("440000", "e1")
        assert await tx.inbox.duplicates("440000", "e1") == 2
        assert await tx.inbox.envelope("440000", "e1") == b"440000/e1"
    keys = [("440000", "e2"), ("440000", "e1"), ("110000", "e1")]
    async with stores.transaction() as tx:
        pending = await tx.inbox.undelivered(keys)
        assert pending[0].key == ("440000", "e1")  # received first
        assert len(pending) == 3
        await tx.inbox.mark_delivered([(("440000", "e1"), None)])
        await tx.inbox.mark_undeliverable(("110000", "e1"), "undeliverable: ValueError")
    async with stores.transaction() as tx:
        assert [p.key for p in await tx.inbox.undelivered(keys)] == [("440000", "e2")]
        assert await tx.inbox.stale_undelivered(3600, 10) == []


async def test_a_failed_unit_of_work_and_a_failed_savepoint_undo_their_writes(
    stores: Stores,
) -> None:
    async def failing() -> None:
        async with stores.transaction() as tx:
            await tx.outbox.add(_outbox("gone"))
            await tx.cases.add(_case("350000-20261127-AAAAAAAA"))
            raise RuntimeError("after writing")

    with pytest.raises(RuntimeError):
        await failing()
    async with stores.transaction() as tx:

        async def refused() -> None:
            async with tx.savepoint():
                await tx.outbox.add(_outbox("undone"))
                await tx.inbox.add(_inbox("440000", "nul\x00"))

        await tx.outbox.add(_outbox("kept"))
        with pytest.raises((ContentRefused, asyncpg.DataError)):
            await refused()
    async with stores.transaction() as tx:
        assert [r.event_id for r in await tx.outbox.take_unsent(10)] == ["kept"]
        assert await tx.cases.get("350000-20261127-AAAAAAAA") is None


async def test_cases_round_trip_and_are_unique_per_number_and_window_key(stores: Stores) -> None:
    first, second = "350000-20261127-AAAAAAAA", "350000-20261127-BBBBBBBB"
    async with stores.transaction() as tx:
        assert await tx.cases.add(_case(first, key="k1"))
    async with stores.transaction() as tx:
        assert not await tx.cases.add(_case(first))
        assert not await tx.cases.add(_case(second, key="k1"))
        assert await tx.cases.add(_case(second))
        found = await tx.cases.by_submission("350000", "window-1", "k1")
        assert found is not None
        assert found.case_no == first
        assert found.applicant_sealed == _case(first).applicant_sealed
        assert found.materials == _case(first).materials
        assert found.status == "received"
        assert await tx.cases.processing_region(first) == "440000"
        assert await tx.cases.set_status(first, "forwarded", 2)
        assert not await tx.cases.set_status("350000-20261127-CCCCCCCC", "forwarded", 2)
        page, total = await tx.cases.page("received", 10, 0)
        assert ([c.case_no for c in page], total) == ([second], 1)
        assert await tx.cases.count_by_role_and_status() == {
            ("origin", "forwarded"): 1,
            ("origin", "received"): 1,
        }
        assert set(await tx.cases.last_changes([first, "350000-20261127-CCCCCCCC"])) == {first}
        supplement = {"name": "补正材料", "sha256": "b" * 64, "ref": "window://2"}
        await tx.cases.add_materials(first, [*_case(first).materials, supplement])
        await tx.cases.add_materials(first, [supplement])  # a retried commit
        again = await tx.cases.get(first)
        assert again is not None
        assert again.materials == [*_case(first).materials, supplement]
        await tx.cases.discard_unstarted(first)  # not `received` any more: kept
        await tx.cases.discard_unstarted(second)
        assert await tx.cases.get(first) is not None
        assert await tx.cases.get(second) is None


async def test_the_message_log_is_one_chain_and_a_retry_appends_nothing(stores: Stores) -> None:
    async with stores.transaction() as tx:
        await message_log.append_to(tx.message_log, "sent", "e1", b"one")
        await message_log.append_to(tx.message_log, "accepted", "e1", b"two")
        await message_log.append_to(tx.message_log, "sent", "e1", b"one")
        head = await tx.message_log.head()
    first = message_log.chain_hash(message_log.GENESIS, "sent", "e1", b"one")
    assert head is not None
    assert head.hash == message_log.chain_hash(first, "accepted", "e1", b"two")


async def test_a_record_is_quarantined_once_per_place_and_redriven_once(stores: Stores) -> None:
    entry = QuarantineEntry(
        reason="malformed",
        detail="not json",
        raw=b"\x00",
        raw_sha256=bytes(32),
        raw_length=1,
        headers_json='[["traceparent", "00"]]',
        topic="tongban.inbox.350000",
        partition=0,
        offset=7,
        claimed_sender=None,
    )
    async with stores.transaction() as tx:
        await tx.quarantine.add(entry)
        await tx.quarantine.add(entry)  # the record read again
    async with stores.transaction() as tx:
        found = await tx.quarantine.take(1)
        assert found is not None
        assert (found.raw, found.headers, found.redriven_at) == (
            b"\x00",
            (("traceparent", "00"),),
            None,
        )
        assert await tx.quarantine.take(2) is None
        await tx.quarantine.mark_redriven(1, "accepted as event e1")
    async with stores.transaction() as tx:
        again = await tx.quarantine.take(1)
        assert again is not None
        assert again.redriven_at is not None


async def test_a_late_commit_never_moves_a_case_back(stores: Stores) -> None:
    # The shape of the kill -9 run: the commit of step 1 arrives after the commit of step 3.
    case_no = "350000-20261127-DDDDDDDD"
    async with stores.transaction() as tx:
        assert await tx.cases.add(_case(case_no))
        assert await tx.cases.set_status(case_no, "supplement-pending", 3)
        assert await tx.cases.set_status(case_no, "formal-review", 1)
        found = await tx.cases.get(case_no)
        assert found is not None
        assert found.status == "supplement-pending"
        # The same step count again (a retried commit) and a later step both still write.
        assert await tx.cases.set_status(case_no, "supplement-pending", 3)
        assert await tx.cases.set_status(case_no, "forwarded", 4)
        found = await tx.cases.get(case_no)
        assert found is not None
        assert found.status == "forwarded"


async def test_outbox_wakeups_say_when_their_connection_is_gone(
    postgres_stores: Stores, stack: StackEndpoints
) -> None:
    """A restarted database drops the LISTEN connection: the listener is woken and told it
    no longer listens, so the relay takes its wake-ups anew instead of polling only."""
    woken = asyncio.Event()
    async with postgres_stores.outbox_wakeups(woken.set) as listening:
        async with postgres_stores.transaction() as tx:
            assert await tx.outbox.add(_outbox("w1"))
        async with asyncio.timeout(5):
            await woken.wait()  # the commit's NOTIFY
        woken.clear()
        assert listening()
        server = await asyncpg.connect(stack.postgres_dsn)
        try:
            # The scratch database's listening backend, as a restarting server ends it.
            ended = await server.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname LIKE 'tongban_stores_%' AND query LIKE 'LISTEN%'"
            )
        finally:
            await server.close()
        assert ended == 1
        async with asyncio.timeout(5):
            await woken.wait()
        assert not listening()
