"""Numbered SQL migrations (`deploy/migrations/NNNN_name.sql`), each applied once per database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg

# Any fixed number: serialises concurrent runners (two `stack up`s, parallel test sessions).
_ADVISORY_LOCK_KEY = 0x7B_0001

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """A migration file failed; it was rolled back and later files were not applied."""


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path


def discover(migrations_dir: Path) -> list[Migration]:
    """All `*.sql` files in lexical order; the version is the file name without `.sql`."""
    if not migrations_dir.is_dir():
        return []
    return [
        Migration(version=path.stem, path=path)
        for path in sorted(migrations_dir.glob("*.sql"), key=lambda p: p.name)
    ]


async def apply_migrations(dsn: str, migrations_dir: Path) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns the versions applied."""
    pending = discover(migrations_dir)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK_KEY)
        try:
            await conn.execute(_CREATE_TABLE)
            rows = await conn.fetch("SELECT version FROM schema_migrations")
            done = {row["version"] for row in rows}
            applied: list[str] = []
            for migration in pending:
                if migration.version in done:
                    continue
                sql = migration.path.read_text(encoding="utf-8")
                try:
                    async with conn.transaction():
                        # No arguments: asyncpg uses the simple query protocol, so a file may
                        # hold many statements.
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version) VALUES ($1)",
                            migration.version,
                        )
                except asyncpg.PostgresError as err:
                    raise MigrationError(f"{migration.path}: {err}") from err
                applied.append(migration.version)
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK_KEY)
    finally:
        await conn.close()
