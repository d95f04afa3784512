"""The settlement ledger's rules on the in-memory stores: a fee collected with `forwarded`,
refunded when the case ends without approval, booked once per case and kind, on both sides,
in the transaction of the message-log append (decision 0030)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest

from events import message_log
from events.models import EventType
from events.stores import settlement
from events.stores.memory import MemoryStores
from events.stores.settlement import SettlementEventUnreadable
from tests.unit.settlement_scenarios import MORNING, SCENARIOS, Pair


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_scenario(scenario: Callable[[Pair], Awaitable[None]]) -> None:
    await scenario(Pair(MemoryStores(), MemoryStores()))


def test_the_wire_types_are_the_event_models() -> None:
    assert EventType.FORWARDED.value == settlement.FORWARDED
    assert EventType.DECIDED.value == settlement.DECIDED
    assert EventType.NOT_ACCEPTED.value == settlement.NOT_ACCEPTED
    assert EventType.CANCELLED.value == settlement.CANCELLED


async def test_an_entry_commits_with_its_log_row_or_not_at_all() -> None:
    a = MemoryStores()
    pair = Pair(a, MemoryStores())
    case_no = pair.case_no()
    await pair.forward(case_no, 700)
    async with pair.a.transaction() as tx:
        collected = await tx.settlement.collected_of(case_no)
    assert collected is not None
    refusal = {
        "type": settlement.NOT_ACCEPTED,
        "id": "e-1",
        "subject": case_no,
        "time": MORNING.isoformat(),
        "data": {"reason": "x"},
    }

    class Crash(Exception):
        pass

    async def book_then_crash() -> None:
        async with a.transaction() as tx:
            wire = json.dumps(refusal).encode()
            await message_log.append_to(tx.message_log, "accepted", "e-1", wire)
            day = await tx.settlement.entries_of_day("350000", "440000", collected.business_day)
            assert len(day) == 2  # booked inside the unit of work ...
            raise Crash

    with pytest.raises(Crash):
        await book_then_crash()
    # ... and gone with its log row when the unit of work fails.
    assert len(a.tables.message_log) == 1
    assert list(a.tables.settlement) == [(case_no, "collected")]


async def test_a_fee_event_without_what_booking_needs_is_refused_with_its_log_row() -> None:
    stores = MemoryStores()
    broken = {"type": settlement.FORWARDED, "id": "e-1", "subject": "x", "data": {}}
    with pytest.raises(SettlementEventUnreadable):
        async with stores.transaction() as tx:
            await message_log.append_to(
                tx.message_log, "accepted", "e-1", json.dumps(broken).encode()
            )
    assert stores.tables.message_log == []


async def test_bytes_that_are_no_event_book_nothing() -> None:
    stores = MemoryStores()
    async with stores.transaction() as tx:
        await message_log.append_to(tx.message_log, "sent", "e-1", b"e1")
        await message_log.append_to(tx.message_log, "sent", "e-2", b"[1, 2]")
    assert len(stores.tables.message_log) == 2
    assert stores.tables.settlement == {}
