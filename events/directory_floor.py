"""The directory floor: the newest trust directory a node has accepted, kept in its database.

Without it a node restarted on an older directory file (a restored backup, a copy from a
stale host, an attacker with write access to the trust folder) would trust keys revoked since.
The node reads the floor once at start and hands it to its credentials, which refuse any file
older than it and keep the stored copy in force instead; the keeper raises the floor whenever
a newer version goes into force (migration 0010, decision 0017).
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from events import instruments
from events.credentials import DirectoryFloor, RegionCredentials
from events.keystore import KeyStore, KeyStoreError
from events.pg import DATABASE_UNAVAILABLE, Conn
from events.trust import DirectoryError, TrustDirectory, load_directory

log = logging.getLogger(__name__)


async def read_floor(conn: Conn | asyncpg.Pool, store: KeyStore) -> DirectoryFloor:
    row = await conn.fetchrow("SELECT version, document FROM directory_floor")
    if row is None:
        return DirectoryFloor()
    try:
        directory = load_directory(bytes(row["document"]), store.pinned_root(), store.root_key_id)
    except (DirectoryError, KeyStoreError, OSError, ValueError) as exc:
        log.error(
            "the trust directory v%d kept in this node's database does not verify against the"
            " pinned root (%s): only its version still bars older directory files",
            row["version"],
            exc,
        )
        return DirectoryFloor(row["version"], None)
    return DirectoryFloor(row["version"], directory)


async def raise_floor(conn: Conn | asyncpg.Pool, directory: TrustDirectory) -> bool:
    """Store `directory` as the floor unless the floor is already as high; True if stored."""
    status = await conn.execute(
        """
        INSERT INTO directory_floor (singleton, version, document) VALUES (true, $1, $2)
        ON CONFLICT (singleton) DO UPDATE
            SET version = EXCLUDED.version, document = EXCLUDED.document, accepted_at = now()
            WHERE directory_floor.version < EXCLUDED.version
        """,
        directory.version,
        directory.model_dump_json().encode(),
    )
    return str(status).endswith(" 1")


class DirectoryKeeper:
    """One of the node's loops: looks at the directory file every `interval_s` (so a new
    publication, or the expiry of the one in force, is noticed with no record arriving),
    raises the floor when a newer version is in force, and keeps the gauges current."""

    def __init__(
        self, pool: asyncpg.Pool, credentials: RegionCredentials, interval_s: float = 1.0
    ) -> None:
        self._pool = pool
        self._credentials = credentials
        self._interval_s = interval_s
        self._floor = credentials.floor.version

    async def tick(self) -> None:
        credentials = self._credentials
        directory = credentials.directory()
        if directory.version > self._floor:
            try:
                await raise_floor(self._pool, directory)
            except DATABASE_UNAVAILABLE as exc:
                log.warning(
                    "node %s: directory floor not raised to v%d yet: %s",
                    credentials.region,
                    directory.version,
                    exc,
                )
            else:
                self._floor = directory.version
                log.info("node %s: directory floor raised to v%d", credentials.region, self._floor)
        credentials.expiry_problem()  # logs, at most once a minute, while expired
        attrs = {"region": credentials.region}
        instruments.directory_version.set(directory.version, attrs)
        # A directory without `valid_until` counts as expired, so it shows as no time left.
        until = directory.valid_until or credentials.wall_clock()
        left = until - credentials.wall_clock()
        instruments.directory_valid_for.set(left.total_seconds(), attrs)

    async def run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self._interval_s)
