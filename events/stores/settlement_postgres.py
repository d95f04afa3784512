"""The settlement ledger on Postgres (deploy/migrations/0017_settlement_ledger.sql)."""

from __future__ import annotations

from datetime import date
from typing import TypeAlias

import asyncpg

from events.pg import Conn
from events.stores.settlement import SettlementEntry

# A pool for readers (operators' reports); a transaction's connection for booking.
_Executor: TypeAlias = "Conn | asyncpg.Pool"

_COLUMNS = (
    "origin_region, processing_region, case_no, kind, amount_fen, event_id, event_type,"
    " event_time, business_day"
)


def _entry(row: asyncpg.Record) -> SettlementEntry:
    return SettlementEntry(
        origin_region=row["origin_region"],
        processing_region=row["processing_region"],
        case_no=row["case_no"],
        kind=row["kind"],
        amount_fen=row["amount_fen"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        event_time=row["event_time"],
        business_day=row["business_day"],
    )


class PostgresSettlementLedger:
    def __init__(self, db: _Executor) -> None:
        self._db = db

    async def book(self, entry: SettlementEntry) -> bool:
        inserted = await self._db.fetchval(
            f"INSERT INTO settlement_ledger ({_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (case_no, kind) DO NOTHING RETURNING true",
            entry.origin_region,
            entry.processing_region,
            entry.case_no,
            entry.kind,
            entry.amount_fen,
            entry.event_id,
            entry.event_type,
            entry.event_time,
            entry.business_day,
        )
        return bool(inserted)

    async def collected_of(self, case_no: str) -> SettlementEntry | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM settlement_ledger WHERE case_no = $1 AND kind = 'collected'",
            case_no,
        )
        return None if row is None else _entry(row)

    async def entries_of_day(
        self, origin_region: str, processing_region: str, day: date
    ) -> list[SettlementEntry]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM settlement_ledger WHERE origin_region = $1"
            " AND processing_region = $2 AND business_day = $3"
            " ORDER BY event_time, case_no, kind",
            origin_region,
            processing_region,
            day,
        )
        return [_entry(r) for r in rows]
