"""Console sessions: one row per signed-in person, in the region's Postgres (migration 0018).

The session id (32 random bytes) is only ever in the person's cookie; the store is keyed by its
SHA-256, so reading the table opens no session. `touch` is the one check every request makes:
in one statement it finds the session of this region that is neither idle too long nor past its
absolute end, and moves `last_seen` on. The clock is the caller's (the console's injected one),
never the database's, so the tests set time instead of sleeping.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

import asyncpg

from regions.tokens import Role


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_secret() -> str:
    return secrets.token_urlsafe(32)


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class StoredSession:
    session_sha256: str
    token_id: str
    region: str
    role: Role
    window: str
    person_id: str | None
    person_name: str | None
    csrf_secret: str
    created_at: datetime
    last_seen: datetime
    expires_at: datetime


class SessionStore(Protocol):
    async def create(self, session: StoredSession) -> None: ...

    async def touch(
        self, session_sha256: str, *, region: str, now: datetime, idle: timedelta
    ) -> StoredSession | None:
        """The live session of `region` with this hash, its `last_seen` moved to `now`; None
        when there is none, it belongs to another region, was idle `idle` or more, or ended."""
        ...

    async def delete(self, session_sha256: str) -> None: ...

    async def prune(self, *, now: datetime, idle: timedelta) -> int:
        """Delete every session that has ended; returns how many."""
        ...


class MemorySessionStore:
    """The same contract in a dict: for unit tests of pages (tests/integration/
    test_console_sessions.py runs the same scenarios on both)."""

    def __init__(self) -> None:
        self.rows: dict[str, StoredSession] = {}

    async def create(self, session: StoredSession) -> None:
        if session.session_sha256 in self.rows:
            raise ValueError("session id already in use")
        self.rows[session.session_sha256] = session

    async def touch(
        self, session_sha256: str, *, region: str, now: datetime, idle: timedelta
    ) -> StoredSession | None:
        found = self.rows.get(session_sha256)
        if found is None or not _live(found, region=region, now=now, idle=idle):
            return None
        touched = replace(found, last_seen=now)
        self.rows[session_sha256] = touched
        return touched

    async def delete(self, session_sha256: str) -> None:
        self.rows.pop(session_sha256, None)

    async def prune(self, *, now: datetime, idle: timedelta) -> int:
        ended = [
            k for k, s in self.rows.items() if s.expires_at <= now or s.last_seen <= now - idle
        ]
        for key in ended:
            del self.rows[key]
        return len(ended)


def _live(session: StoredSession, *, region: str, now: datetime, idle: timedelta) -> bool:
    return session.region == region and session.expires_at > now and session.last_seen > now - idle


_COLUMNS = (
    "session_sha256, token_id, region, role, window_name, person_id, person_name, csrf_secret,"
    " created_at, last_seen, expires_at"
)


def _row(row: asyncpg.Record) -> StoredSession:
    return StoredSession(
        session_sha256=row["session_sha256"],
        token_id=row["token_id"],
        region=row["region"],
        role=Role(row["role"]),
        window=row["window_name"],
        person_id=row["person_id"],
        person_name=row["person_name"],
        csrf_secret=row["csrf_secret"],
        created_at=row["created_at"],
        last_seen=row["last_seen"],
        expires_at=row["expires_at"],
    )


class PostgresSessionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, session: StoredSession) -> None:
        await self._pool.execute(
            f"INSERT INTO console_sessions ({_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            session.session_sha256,
            session.token_id,
            session.region,
            session.role.value,
            session.window,
            session.person_id,
            session.person_name,
            session.csrf_secret,
            session.created_at,
            session.last_seen,
            session.expires_at,
        )

    async def touch(
        self, session_sha256: str, *, region: str, now: datetime, idle: timedelta
    ) -> StoredSession | None:
        row = await self._pool.fetchrow(
            "UPDATE console_sessions SET last_seen = $3"
            " WHERE session_sha256 = $1 AND region = $2"
            " AND expires_at > $3 AND last_seen > $3 - $4::interval"
            f" RETURNING {_COLUMNS}",
            session_sha256,
            region,
            now,
            idle,
        )
        return None if row is None else _row(row)

    async def delete(self, session_sha256: str) -> None:
        await self._pool.execute(
            "DELETE FROM console_sessions WHERE session_sha256 = $1", session_sha256
        )

    async def prune(self, *, now: datetime, idle: timedelta) -> int:
        status: str = await self._pool.execute(
            "DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen <= $1 - $2::interval",
            now,
            idle,
        )
        return int(status.split()[-1])
