"""The settlement ledger's scenarios (tests/unit/settlement_scenarios.py) against the Postgres
stores: a pair of scratch region databases with every migration, each event written through
the outbox on its sender and the message log on its recipient, both ledgers checked alike; and
what only the database enforces (one entry per case and kind, signs, the Beijing day, append
only)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from deploy.stack.migrations import apply_migrations
from deploy.stack.settings import StackEndpoints, StackSettings
from events.stores.postgres import PostgresStores
from events.stores.settlement import SettlementEntry
from regions.database import create_pool
from tests.unit.settlement_scenarios import SCENARIOS, Pair

pytestmark = pytest.mark.integration


@pytest.fixture
async def scratch(
    stack: StackEndpoints, stack_settings: StackSettings
) -> AsyncIterator[tuple[str, str]]:
    """Two scratch region databases with every migration, dropped afterwards."""
    names = [f"tongban_settle_{secrets.token_hex(4)}" for _ in range(2)]
    server = await asyncpg.connect(stack.postgres_dsn)
    try:
        for name in names:
            await server.execute(f'CREATE DATABASE "{name}"')
        server_url = urlsplit(stack.postgres_dsn)
        dsns = [urlunsplit(server_url._replace(path=f"/{n}")) for n in names]
        for dsn in dsns:
            await apply_migrations(dsn, stack_settings.migrations_dir)
        yield dsns[0], dsns[1]
    finally:
        for name in names:
            await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_scenario_on_postgres(
    scenario: Callable[[Pair], Awaitable[None]], scratch: tuple[str, str]
) -> None:
    pools = [await create_pool(dsn, min_size=1, max_size=2) for dsn in scratch]
    try:
        await scenario(Pair(PostgresStores(pools[0]), PostgresStores(pools[1])))
    finally:
        for pool in pools:
            await pool.close()


def _entry(**changes: object) -> SettlementEntry:
    at = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    fields: dict[str, object] = {
        "origin_region": "350000",
        "processing_region": "440000",
        "case_no": "350000-20261130-00000001",
        "kind": "collected",
        "amount_fen": 100,
        "event_id": "e-1",
        "event_type": "cn.tongban.case.forwarded",
        "event_time": at,
        "business_day": date(2026, 11, 30),
        **changes,
    }
    return SettlementEntry(**fields)  # type: ignore[arg-type]


async def test_the_table_refuses_what_the_rules_never_book(scratch: tuple[str, str]) -> None:
    pool = await create_pool(scratch[0], min_size=1, max_size=2)
    try:
        stores = PostgresStores(pool)
        async with stores.transaction() as tx:
            assert await tx.settlement.book(_entry())
            assert not await tx.settlement.book(_entry(event_id="e-2", amount_fen=999))
        wrong = (
            _entry(case_no="c2", amount_fen=-1),  # collected is positive
            _entry(case_no="c3", kind="refunded", amount_fen=1),  # refunded negative
            _entry(case_no="c4", business_day=date(2026, 11, 29)),  # not its Beijing day
        )
        for entry in wrong:
            with pytest.raises(asyncpg.CheckViolationError):
                async with stores.transaction() as tx:
                    await tx.settlement.book(entry)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pool.execute("DELETE FROM settlement_ledger")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pool.execute("UPDATE settlement_ledger SET amount_fen = 1")
        async with stores.transaction() as tx:
            found = await tx.settlement.entries_of_day("350000", "440000", date(2026, 11, 30))
        assert found == [_entry()]
    finally:
        await pool.close()
