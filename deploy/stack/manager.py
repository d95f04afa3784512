"""`stack up | down | status`: start what is missing, provision it, remember what we started.

`state/stack.json` holds the processes `up` started (so `down` stops only those) and the
endpoints other commands connect to (see `settings.load_endpoints`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deploy.stack import kafka, migrations, postgres, temporal
from deploy.stack.processes import (
    ProcessRecord,
    ServiceStartError,
    Started,
    log_tail,
    record_existing,
    start_detached,
    still_ours,
    stop_process,
    wait_until,
)
from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.topics import inbox_topic

Report = Callable[[str], None]
SERVICES = ("kafka", "temporal", "postgres")


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    up: bool
    address: str | None
    pid: int | None
    log: str | None
    managed: bool  # started by `stack up`, so `stack down` stops it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StackState:
    services: dict[str, ProcessRecord] = field(default_factory=dict)
    endpoints: dict[str, str | None] = field(default_factory=dict)
    # The cluster profile: what a region's node needs beyond addresses (cluster.access).
    access: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> StackState:
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text())
        services = {
            name: ProcessRecord.from_json(record)
            for name, record in data.get("services", {}).items()
        }
        return cls(
            services=services,
            endpoints=dict(data.get("endpoints", {})),
            access=dict(data.get("access", {})),
        )

    def save(self, path: Path) -> None:
        if not self.services and not self.endpoints:
            path.unlink(missing_ok=True)
            return
        data: dict[str, Any] = {
            "services": {name: record.to_json() for name, record in self.services.items()},
            "endpoints": self.endpoints,
        }
        if self.access:
            data["access"] = self.access
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        tmp.replace(path)  # atomic: a reader never sees half a file


@contextlib.contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """One `up`/`down` at a time per state dir (two terminals, parallel test sessions)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "stack.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _absolute(settings: StackSettings) -> StackSettings:
    # Paths end up in command lines and in a file read from other working directories.
    return settings.model_copy(update={"state_dir": settings.state_dir.resolve()})


# ---------------------------------------------------------------------------------- up


@dataclass(frozen=True)
class Outcome:
    address: str
    record: ProcessRecord | None  # None: not ours (configured, or found already running)


async def up(settings: StackSettings, *, report: Report = _quiet) -> StackEndpoints:
    if settings.stack_profile == "cluster":
        from deploy.stack import cluster

        return await cluster.up(settings, report=report)
    settings = _absolute(settings)
    with locked(settings.state_dir):
        state = StackState.load(settings.stack_file)
        names_and_starts: list[tuple[str, Awaitable[Outcome]]] = [
            ("kafka", _kafka_up(settings, state, report)),
            ("temporal", _temporal_up(settings, state, report)),
            ("postgres", _postgres_up(settings, state, report)),
        ]
        results = await asyncio.gather(
            *(start for _, start in names_and_starts), return_exceptions=True
        )
        # Record what did start before reporting a failure, so `down` can still stop it.
        failure: BaseException | None = None
        outcomes: dict[str, Outcome] = {}
        for (name, _), result in zip(names_and_starts, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            outcomes[name] = result
            if result.record is not None:
                state.services[name] = result.record
            else:
                state.services.pop(name, None)
        state.save(settings.stack_file)
        if failure is not None:
            raise failure

        endpoints = StackEndpoints(
            kafka_bootstrap=outcomes["kafka"].address,
            temporal_address=outcomes["temporal"].address,
            temporal_ui=None if settings.temporal_address else temporal.ui_url(settings),
            postgres_dsn=outcomes["postgres"].address,
        )
        state.endpoints = endpoints.as_dict()
        state.save(settings.stack_file)

        report(f"provisioning regions {', '.join(settings.regions)}")
        await asyncio.gather(
            kafka.ensure_topics(
                endpoints.kafka_bootstrap, [inbox_topic(r) for r in settings.regions]
            ),
            temporal.ensure_namespaces(endpoints.temporal_address, settings.regions),
            provision_postgres(settings, endpoints.postgres_dsn, report),
        )
        return endpoints


async def provision(settings: StackSettings, *, report: Report = _quiet) -> None:
    """Namespaces (with search attributes), databases and schema on services that run
    elsewhere (a region's Temporal cluster and Postgres): the release job of a production
    node. Kafka is not touched: topics, principals and ACLs are `join-region`'s."""
    if not (settings.temporal_address and settings.postgres_dsn):
        raise ValueError("provision needs TONGBAN_TEMPORAL_ADDRESS and TONGBAN_POSTGRES_DSN")
    report(f"provisioning regions {', '.join(settings.regions)}")
    await asyncio.gather(
        temporal.ensure_namespaces(settings.temporal_address, settings.regions),
        provision_postgres(settings, settings.postgres_dsn, report),
    )


async def provision_postgres(settings: StackSettings, server_dsn: str, report: Report) -> None:
    await postgres.ensure_databases(server_dsn, settings.regions)
    for region in settings.regions:
        applied = await migrations.apply_migrations(
            region_dsn(server_dsn, region), settings.migrations_dir
        )
        if applied:
            report(f"postgres tongban_{region}: applied {', '.join(applied)}")


async def _external(name: str, address: str, probe: Callable[[str], Awaitable[bool]]) -> Outcome:
    if not await probe(address):
        raise ServiceStartError(name, f"the configured address {address} does not answer", "")
    return Outcome(address, None)


async def adopt_or_start(
    name: str,
    address: str,
    probe: Callable[[str], Awaitable[bool]],
    recorded: ProcessRecord | None,
    launch: Callable[[], Started],
    logs: list[Path],
    settings: StackSettings,
    report: Report,
) -> Outcome:
    """Leave a running service alone; otherwise launch it and wait until it answers."""
    ours = recorded is not None and still_ours(recorded)
    if ours and recorded is not None:
        if await wait_until(lambda: probe(address), timeout_s=settings.start_timeout_s):
            report(f"{name}: already running (pid {recorded.pid})")
            return Outcome(address, recorded)
        raise ServiceStartError(
            name, f"pid {recorded.pid} runs but does not answer", log_tails(logs)
        )
    if await probe(address):
        report(f"{name}: {address} already answers; not started by this stack, left alone")
        return Outcome(address, None)

    report(f"{name}: starting")
    started = await asyncio.to_thread(launch)
    answered = await wait_until(
        lambda: probe(address), timeout_s=settings.start_timeout_s, started=started
    )
    if answered:
        report(f"{name}: up (pid {started.record.pid})")
        return Outcome(address, started.record)
    code = started.exited()
    reason = f"exited with status {code}" if code is not None else "did not answer in time"
    await asyncio.to_thread(stop_process, started.record)
    raise ServiceStartError(name, reason, log_tails(logs))


def log_tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {log}\n{log_tail(log)}" for log in logs)


async def _kafka_up(settings: StackSettings, state: StackState, report: Report) -> Outcome:
    if settings.kafka_bootstrap:
        return await _external("kafka", settings.kafka_bootstrap, kafka.answers)
    paths = kafka.KafkaPaths.under(settings.state_dir)

    def launch() -> Started:
        prepared, cmd = kafka.prepare(settings)
        return start_detached(cmd, prepared.stdout_log, cwd=prepared.root)

    outcome = await adopt_or_start(
        "kafka",
        kafka.bootstrap(settings),
        kafka.answers,
        state.services.get("kafka"),
        launch,
        [paths.server_log, paths.stdout_log],
        settings,
        report,
    )
    if kafka.config_is_stale(settings):
        # Not restarted here: other sessions may be using this broker right now.
        report(
            "kafka: running with an older server.properties (no SASL listener?); "
            "apply it with `tongban stack down && tongban stack up` (storage is kept)"
        )
    return outcome


async def _temporal_up(settings: StackSettings, state: StackState, report: Report) -> Outcome:
    if settings.temporal_address:
        return await _external("temporal", settings.temporal_address, temporal.answers)
    db, log = temporal.state_paths(settings.state_dir)

    def launch() -> Started:
        db.parent.mkdir(parents=True, exist_ok=True)
        return start_detached(temporal.dev_server_command(settings, db), log, cwd=db.parent)

    return await adopt_or_start(
        "temporal",
        temporal.address(settings),
        temporal.answers,
        state.services.get("temporal"),
        launch,
        [log],
        settings,
        report,
    )


async def _postgres_answers(
    settings: StackSettings, paths: postgres.PostgresPaths, dsn: str
) -> None:
    if not await wait_until(lambda: postgres.answers(dsn), timeout_s=settings.start_timeout_s):
        raise ServiceStartError("postgres", "does not answer SELECT 1", log_tails([paths.log]))


async def _postgres_up(settings: StackSettings, state: StackState, report: Report) -> Outcome:
    if settings.postgres_dsn:
        return await _external("postgres", settings.postgres_dsn, postgres.answers)
    paths = postgres.PostgresPaths.under(settings.state_dir)
    recorded = state.services.get("postgres")
    was_running = postgres.running_pid(paths) is not None
    if not was_running:
        report("postgres: starting")
    try:
        # Starts the server, or finds the one already running on this data directory.
        server = await asyncio.to_thread(postgres.start, paths)
    except (subprocess.SubprocessError, OSError) as err:
        raise ServiceStartError("postgres", str(err), log_tails([paths.log])) from err
    await _postgres_answers(settings, paths, server.dsn)
    if await postgres.raise_connection_limit(server.dsn):
        report(f"postgres: restarting once for max_connections = {postgres.MAX_CONNECTIONS}")
        await asyncio.to_thread(postgres.stop, paths)
        server = await asyncio.to_thread(postgres.start, paths)
        await _postgres_answers(settings, paths, server.dsn)
        was_running = False
    if recorded is not None and recorded.pid == server.pid and still_ours(recorded):
        record: ProcessRecord | None = recorded
    else:
        # The data directory is the stack's own, so its server is ours to stop.
        record = record_existing(server.pid, paths.log)
    report(f"postgres: {'already running' if was_running else 'up'} (pid {server.pid})")
    return Outcome(server.dsn, record)


# -------------------------------------------------------------------------------- down


def down(settings: StackSettings, *, report: Report = _quiet) -> None:
    if settings.stack_profile == "cluster":
        from deploy.stack import cluster

        cluster.down(settings, report=report)
        return
    settings = _absolute(settings)
    with locked(settings.state_dir):
        state = StackState.load(settings.stack_file)
        stoppers = {
            "kafka": lambda record: stop_process(record, timeout_s=30.0),
            "temporal": lambda record: stop_process(record, timeout_s=20.0),
            "postgres": lambda record: _stop_postgres(settings, record),
        }
        recorded = {name: state.services[name] for name in SERVICES if name in state.services}
        # Kafka's controlled shutdown takes seconds; stop the services side by side.
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {name: pool.submit(stoppers[name], rec) for name, rec in recorded.items()}
            for name, future in futures.items():
                stopped = future.result()
                pid = recorded[name].pid
                report(f"{name}: stopped (pid {pid})" if stopped else f"{name}: pid {pid} was gone")
                state.services.pop(name, None)
        if not recorded:
            report("nothing started by this stack is recorded; nothing stopped")
        state.endpoints = {}
        state.save(settings.stack_file)


def _stop_postgres(settings: StackSettings, record: ProcessRecord) -> bool:
    if not still_ours(record):
        return False
    paths = postgres.PostgresPaths.under(settings.state_dir)
    try:
        postgres.stop(paths)
    except subprocess.CalledProcessError:
        # pg_ctl could not do it (e.g. a damaged postmaster.pid): fall back to signals.
        return stop_process(record)
    return True


# ------------------------------------------------------------------------------ status


async def status(settings: StackSettings) -> list[ServiceStatus]:
    if settings.stack_profile == "cluster":
        from deploy.stack import cluster

        return await cluster.status(settings)
    settings = _absolute(settings)
    state = StackState.load(settings.stack_file)
    pg_paths = postgres.PostgresPaths.under(settings.state_dir)
    _, temporal_log = temporal.state_paths(settings.state_dir)
    rows: list[tuple[str, str | None, Callable[[str], Awaitable[bool]], Path]] = [
        (
            "kafka",
            settings.kafka_bootstrap or kafka.bootstrap(settings),
            kafka.answers,
            kafka.KafkaPaths.under(settings.state_dir).server_log,
        ),
        (
            "temporal",
            settings.temporal_address or temporal.address(settings),
            temporal.answers,
            temporal_log,
        ),
        (
            "postgres",
            settings.postgres_dsn or _str_or_none(state.endpoints.get("postgres_dsn")),
            postgres.answers,
            pg_paths.log,
        ),
    ]

    async def one(
        name: str, address: str | None, probe: Callable[[str], Awaitable[bool]], log: Path
    ) -> ServiceStatus:
        record = state.services.get(name)
        alive = record is not None and still_ours(record)
        external = getattr(settings, _SETTING[name]) is not None
        return ServiceStatus(
            name=name,
            up=address is not None and await probe(address),
            address=address,
            pid=record.pid if record is not None and alive else None,
            log=None if external else str(log),
            managed=alive,
        )

    return list(await asyncio.gather(*(one(*row) for row in rows)))


_SETTING = {"kafka": "kafka_bootstrap", "temporal": "temporal_address", "postgres": "postgres_dsn"}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


# ------------------------------------------------------------------ one service (fault tests)


def stop_service(settings: StackSettings, name: str, *, report: Report = _quiet) -> bool:
    """Stop one service `up` started, leaving the others running; `up` starts it again.

    For fault tests and drills: a broker, database or Temporal restart under running nodes.
    Returns False when that service is not ours to stop (configured, or already gone).
    """
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    settings = _absolute(settings)
    with locked(settings.state_dir):
        state = StackState.load(settings.stack_file)
        record = state.services.get(name)
        if record is None:
            report(f"{name}: not started by this stack; not stopped")
            return False
        if name == "postgres":
            stopped = _stop_postgres(settings, record)
        else:
            stopped = stop_process(record, timeout_s=30.0)
        # The endpoints stay recorded: nodes and tests keep the same addresses across a restart.
        state.services.pop(name, None)
        state.save(settings.stack_file)
        report(f"{name}: stopped (pid {record.pid})" if stopped else f"{name}: was gone")
        return stopped


async def restart_service(
    settings: StackSettings, name: str, *, down_for_s: float = 0.0, report: Report = _quiet
) -> StackEndpoints:
    """Stop one service, leave it down for `down_for_s`, then bring the stack up again."""
    await asyncio.to_thread(stop_service, settings, name, report=report)
    if down_for_s > 0:
        await asyncio.sleep(down_for_s)
    return await up(settings, report=report)
