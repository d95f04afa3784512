"""The settlement ledger in memory, with the Postgres one's semantics, for fast tests."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from events.stores.settlement import COLLECTED, SettlementEntry
from events.stores.unit import ContentRefused


class SettlementTables(Protocol):
    settlement: dict[tuple[str, str], SettlementEntry]  # (case no, kind)


class _Holder(Protocol):
    @property
    def tables(self) -> SettlementTables: ...


class MemorySettlementLedger:
    def __init__(self, tx: _Holder) -> None:
        self._tx = tx

    async def book(self, entry: SettlementEntry) -> bool:
        rows = self._tx.tables.settlement
        key = (entry.case_no, entry.kind)
        if key in rows:
            return False
        if (entry.kind == COLLECTED) != (entry.amount_fen > 0) or entry.amount_fen == 0:
            # As the table's CHECK refuses it.
            raise ContentRefused("settlement: collected is positive, refunded negative")
        rows[key] = entry
        return True

    async def collected_of(self, case_no: str) -> SettlementEntry | None:
        return self._tx.tables.settlement.get((case_no, COLLECTED))

    async def entries_of_day(
        self, origin_region: str, processing_region: str, day: date
    ) -> list[SettlementEntry]:
        found = [
            e
            for e in self._tx.tables.settlement.values()
            if (e.origin_region, e.processing_region, e.business_day)
            == (origin_region, processing_region, day)
        ]
        return sorted(found, key=lambda e: (e.event_time, e.case_no, e.kind))
