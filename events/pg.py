"""Postgres connection types and the failures that mean the database is unavailable."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# The stubs make these generic; at run time they are not subscriptable, hence the string.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

# A server going away under pooled connections surfaces as these too, not only as
# PostgresError: "the underlying connection is closed", "cannot switch to state ...".
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
)
