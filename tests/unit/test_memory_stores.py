"""The in-memory stores keep the semantics the unit tests rely on: a unit of work commits all
or nothing, a savepoint undoes only itself, inbox rows are unique per sender and event id,
outbox rows come out in the order written, and a value Postgres would refuse is refused."""

from __future__ import annotations

import pytest

from events.stores.cases import NewCase
from events.stores.exchange import InboxEntry, OutboxEntry
from events.stores.memory import MemoryStores
from events.stores.unit import ContentRefused


def _inbox(sender: str, event_id: str, case_no: str = "350000-20261127-ABCDEFGH") -> InboxEntry:
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


def _outbox(event_id: str) -> OutboxEntry:
    return OutboxEntry(
        event_id=event_id,
        case_no="350000-20261127-ABCDEFGH",
        event_type="forwarded",
        recipient_region="440000",
        topic="tongban.inbox.440000",
        envelope=event_id.encode(),
        trace_context=None,
    )


def _case(case_no: str, key: str | None = None) -> NewCase:
    return NewCase(
        case_no=case_no,
        role="origin",
        item_code="GG-00102-000",
        item_version=1,
        origin_region="350000",
        processing_region="440000",
        applicant_sealed={},
        submission_window="window-1" if key else None,
        submission_key=key,
    )


async def test_a_unit_of_work_that_raises_leaves_nothing_behind() -> None:
    stores = MemoryStores()

    async def failing_step() -> None:
        async with stores.transaction() as tx:
            await tx.outbox.add(_outbox("e1"))
            await tx.cases.add(_case("350000-20261127-AAAAAAAA"))
            raise RuntimeError("the step failed after writing")

    with pytest.raises(RuntimeError):
        await failing_step()
    assert stores.tables.outbox == {}
    assert stores.tables.cases == {}


async def test_a_savepoint_undoes_only_what_was_done_inside_it() -> None:
    stores = MemoryStores()
    async with stores.transaction() as tx:
        await tx.outbox.add(_outbox("kept"))

        async def refused_part() -> None:
            async with tx.savepoint():
                await tx.outbox.add(_outbox("undone"))
                await tx.inbox.add(_inbox("440000", "with\x00nul"))

        with pytest.raises(ContentRefused):
            await refused_part()
    assert list(stores.tables.outbox) == ["kept"]


async def test_inbox_rows_are_unique_per_sender_and_event_id() -> None:
    stores = MemoryStores()
    async with stores.transaction() as tx:
        assert await tx.inbox.add(_inbox("440000", "e1"))
        assert await tx.inbox.add(_inbox("110000", "e1"))  # another sender, same id
        assert not await tx.inbox.add(_inbox("440000", "e1"))
        assert await tx.inbox.envelope("440000", "e1") == b"440000/e1"
    assert len(stores.tables.inbox) == 2


async def test_outbox_rows_come_out_in_the_order_written_and_once_per_event_id() -> None:
    stores = MemoryStores()
    async with stores.transaction() as tx:
        for event_id in ("c", "a", "b"):
            assert await tx.outbox.add(_outbox(event_id))
        assert not await tx.outbox.add(_outbox("a"))
        assert [r.event_id for r in await tx.outbox.take_unsent(10)] == ["c", "a", "b"]
        assert [r.event_id for r in await tx.outbox.take_unsent(2)] == ["c", "a"]


async def test_a_case_is_recorded_once_per_number_and_per_window_key() -> None:
    stores = MemoryStores()
    async with stores.transaction() as tx:
        assert await tx.cases.add(_case("350000-20261127-AAAAAAAA", key="k1"))
        assert not await tx.cases.add(_case("350000-20261127-AAAAAAAA"))
        assert not await tx.cases.add(_case("350000-20261127-BBBBBBBB", key="k1"))
        found = await tx.cases.by_submission("350000", "window-1", "k1")
        assert found is not None
        assert found.case_no == "350000-20261127-AAAAAAAA"
        assert found.status == "received"
