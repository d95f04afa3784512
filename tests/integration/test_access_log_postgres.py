"""The access log on Postgres: rows written and read back per case, oldest first; appended,
never changed; a row the database refuses is an `AccessLogUnavailable` (the API then answers
503 and shows nothing)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from deploy.stack.migrations import apply_migrations
from deploy.stack.settings import StackEndpoints, StackSettings
from regions.access_log import Access, AccessLogUnavailable, PostgresAccessLog, Reader

pytestmark = pytest.mark.integration

CASE = "350000-20261130-ZZET7HWB"
OFFICER = Reader(
    token_id="0123456789ab",
    role="processing-officer",
    region="440000",
    window="gz-office",
    person_id="GD2002",
    person_name="陈明",
)


@pytest.fixture
async def db(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[str]:
    name = f"tongban_access_{secrets.token_hex(4)}"
    server = await asyncpg.connect(stack.postgres_dsn)
    await server.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(urlsplit(stack.postgres_dsn)._replace(path=f"/{name}"))
    try:
        await apply_migrations(dsn, stack_settings.migrations_dir)
        yield dsn
    finally:
        await server.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await server.close()


async def test_openings_are_kept_per_case_and_never_changed(db: str) -> None:
    digest = hashlib.sha256(b"scan").hexdigest()
    conn = await asyncpg.connect(db)
    try:
        log = PostgresAccessLog(conn)
        await log.record(
            Access(CASE, OFFICER, "GET /cases/{case_no}/file", "case-file", ("name", "phone"))
        )
        await log.record(
            Access(
                CASE,
                OFFICER,
                "GET /cases/{case_no}/materials/{sha256}",
                "material",
                material_sha256=digest,
            )
        )
        await log.record(Access("350000-20261130-AAAAAAAA", OFFICER, "r", "case-file"))
        entries = await log.of_case(CASE)
        assert [(e.access.what, e.access.fields, e.access.material_sha256) for e in entries] == [
            ("case-file", ("name", "phone"), None),
            ("material", (), digest),
        ]
        assert entries[0].access.reader == OFFICER
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM access_log")
        # A row the table refuses (a material opening without its digest) is not written,
        # and the caller is told so.
        with pytest.raises(AccessLogUnavailable):
            await log.record(Access(CASE, OFFICER, "r", "material"))
        assert len(await log.of_case(CASE)) == 2
    finally:
        await conn.close()
