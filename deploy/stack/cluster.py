"""`stack up | down | status --profile cluster`: the production shape on this machine.

Temporal's own server (five services, four history shards, mTLS, each region's calls
authorized by its token) on a PostgreSQL of its own,
three Kafka brokers (KRaft, TLS, SASL/SCRAM, ACLs, RF 3 / min ISR 2), all under
`<state>/cluster/` on ports apart from the default stack's (decision 0037). The default
stack is never started, stopped or read from here.

`<state>/cluster/stack.json` holds the processes `up` started, the endpoints, and `access`:
what a region's node needs to reach them (CA, its client certificate, the file holding its
Temporal token, its SCRAM user and the file holding its password; never a secret itself).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from deploy.stack import (
    certs,
    cluster_kafka,
    cluster_postgres,
    cluster_temporal,
    temporal,
    temporal_tokens,
)
from deploy.stack.cluster_layout import BROKER_IDS, TEMPORAL_SERVICES, ClusterLayout
from deploy.stack.manager import (
    Outcome,
    Report,
    ServiceStatus,
    StackState,
    adopt_or_start,
    locked,
    log_tails,
    provision_postgres,
)
from deploy.stack.processes import (
    ProcessRecord,
    ServiceStartError,
    Started,
    record_existing,
    start_detached,
    still_ours,
    stop_process,
    wait_until,
)
from deploy.stack.settings import StackEndpoints, StackSettings
from deploy.stack.temporal_build import TemporalBuild, ensure_built

# Temporal's services join their ring through the database and Kafka's controllers elect a
# leader: the first start on two busy cores takes longer than one dev server.
START_TIMEOUT_S = 300.0
POSTGRES = "postgres"
UI = "temporal-ui"


def temporal_service_name(service: str) -> str:
    return f"temporal-{service}"


def member_names() -> list[str]:
    return [
        POSTGRES,
        *(temporal_service_name(s) for s in TEMPORAL_SERVICES),
        UI,
        *(cluster_kafka.service_name(b) for b in BROKER_IDS),
    ]


def _quiet(_: str) -> None:
    return None


def _settings(settings: StackSettings) -> StackSettings:
    return settings.model_copy(
        update={
            "state_dir": settings.state_dir.resolve(),
            "stack_profile": "cluster",
            "start_timeout_s": max(settings.start_timeout_s, START_TIMEOUT_S),
        }
    )


async def _tcp_listens(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


# ---------------------------------------------------------------------------------- up


async def up(settings: StackSettings, *, report: Report = _quiet) -> StackEndpoints:
    settings = _settings(settings)
    layout = ClusterLayout.of(settings)
    with locked(layout.root):
        state = StackState.load(layout.stack_file)
        issued = certs.issue_production(layout.certs, settings.regions)
        if issued:
            report(f"certificates issued: {', '.join(issued)} ({layout.certs})")
        tokens = temporal_tokens.ensure_tokens(layout, settings.regions)
        if tokens:
            report(f"temporal tokens issued: {', '.join(tokens)} ({layout.temporal_auth})")
        build = TemporalBuild.cached()
        if not build.complete():
            report(f"building Temporal's server into {build.root} (first time: minutes)")
        built_s = await asyncio.to_thread(ensure_built, build=build)
        if built_s:
            report(f"temporal: built in {built_s:.0f}s")
        pg = cluster_postgres.ClusterPostgres.of(layout)
        pg_outcome = await _postgres_up(pg, state, settings, report)
        state.services[POSTGRES] = pg_outcome
        state.save(layout.stack_file)
        results = await asyncio.gather(
            _temporal_up(settings, layout, build, pg, state, report),
            _kafka_up(settings, layout, state, report),
            return_exceptions=True,
        )
        state.save(layout.stack_file)  # what did start, so `down` can stop it
        for result in results:
            if isinstance(result, BaseException):
                raise result
        report(f"provisioning regions {', '.join(settings.regions)}")
        tls = cluster_temporal.internal_tls(layout).config()
        _, _, lines = await asyncio.gather(
            temporal.ensure_namespaces(layout.temporal_internal_address, settings.regions, tls),
            provision_postgres(settings, pg.socket_dsn, report),
            asyncio.to_thread(cluster_kafka.join_regions, layout, settings.regions),
        )
        report(f"kafka: {len(lines)} topic, credential and ACL steps confirmed")
        await _tokens_admitted(layout, settings.regions)
        endpoints = StackEndpoints(
            kafka_bootstrap=layout.kafka_bootstrap,
            temporal_address=layout.temporal_address,
            temporal_ui=layout.temporal_ui_url,
            postgres_dsn=pg.socket_dsn,
        )
        state.endpoints = endpoints.as_dict()
        state.access = access(layout, settings.regions)
        state.save(layout.stack_file)
        return endpoints


async def _tokens_admitted(layout: ClusterLayout, regions: tuple[str, ...]) -> None:
    """Each region's node gets in with its certificate and token: a wrong key, claim or
    config shows here, at `up`, not as a node that cannot start."""
    refusals = await asyncio.gather(
        *(cluster_temporal.refusal_of_region(layout, region) for region in regions)
    )
    refused = {r: why for r, why in zip(regions, refusals, strict=True) if why is not None}
    if refused:
        lines = "; ".join(f"region {r}: {why}" for r, why in refused.items())
        raise ServiceStartError(
            temporal_service_name("frontend"),
            f"the frontend refuses the regions' tokens: {lines}",
            log_tails([cluster_temporal.log_path(layout, "frontend")]),
        )


def access(layout: ClusterLayout, regions: tuple[str, ...]) -> dict[str, Any]:
    """What each region's node needs, by path: certificates and the SCRAM password's file."""
    authority = certs.CertificateAuthority(layout.certs)
    nodes: dict[str, Any] = {}
    for region in regions:
        files = authority.files(certs.node_client(region))
        nodes[region] = {
            "temporal_tls_cert": str(files.cert),
            "temporal_tls_key": str(files.key),
            "temporal_api_key_file": str(temporal_tokens.token_path(layout, region)),
            "kafka_sasl_username": f"region-{region}",
            "kafka_sasl_password_file": str(cluster_kafka.password_file(layout, region)),
        }
    return {
        "ca": str(authority.ca_cert),
        "temporal_tls_server_name": cluster_temporal.TLS_SERVER_NAME,
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_admin_bootstrap": layout.kafka_admin_bootstrap,
        "kafka_admin_properties": str(cluster_kafka.admin_properties(layout)),
        "nodes": nodes,
    }


async def _postgres_up(
    pg: cluster_postgres.ClusterPostgres,
    state: StackState,
    settings: StackSettings,
    report: Report,
) -> ProcessRecord:
    was_running = cluster_postgres.running_pid_of(pg) is not None
    try:
        pid = await asyncio.to_thread(cluster_postgres.start, pg)
    except (subprocess.SubprocessError, OSError) as err:
        raise ServiceStartError(POSTGRES, str(err), log_tails([pg.log])) from err
    recorded = state.services.get(POSTGRES)
    if recorded is not None and recorded.pid == pid and still_ours(recorded):
        record = recorded
    else:
        found = record_existing(pid, pg.log)
        if found is None:
            raise ServiceStartError(POSTGRES, f"pid {pid} vanished after starting", "")
        record = found
    report(f"postgres: {'already running' if was_running else 'up'} (pid {pid}, :{pg.port})")
    return record


async def _temporal_up(
    settings: StackSettings,
    layout: ClusterLayout,
    build: TemporalBuild,
    pg: cluster_postgres.ClusterPostgres,
    state: StackState,
    report: Report,
) -> None:
    for line in await cluster_temporal.ensure_schemas(build, pg):
        report(f"temporal: {line}")
    cluster_temporal.write_config(layout, pg)
    tls = cluster_temporal.internal_tls(layout).config()

    async def frontend_answers(address: str) -> bool:
        return await temporal.answers(address, tls=tls, namespace=cluster_temporal.SYSTEM_NAMESPACE)

    def start(service: str) -> Awaitable[Outcome]:
        name = temporal_service_name(service)
        grpc, _ = layout.temporal_ports(service)
        log = cluster_temporal.log_path(layout, service)
        cmd = cluster_temporal.service_command(build, layout, service)
        return adopt_or_start(
            name,
            f"localhost:{grpc}",
            _tcp_listens,
            state.services.get(name),
            _launcher(cmd, log, layout.temporal_root),
            [log],
            settings,
            report,
        )

    # The first service to start writes the cluster's metadata; two writing it at once fail
    # ("failed to initialize current cluster metadata"), so the frontend goes first, alone,
    # until it listens. It serves only once the others have joined the membership ring.
    first, *rest = TEMPORAL_SERVICES
    _record(state, [temporal_service_name(first)], await _all([start(first)]))
    _record(state, [temporal_service_name(s) for s in rest], await _all([start(s) for s in rest]))
    if not await wait_until(
        lambda: frontend_answers(layout.temporal_internal_address),
        timeout_s=settings.start_timeout_s,
    ):
        raise ServiceStartError(
            temporal_service_name(first),
            "listens but does not serve (the others did not join its ring?)",
            log_tails([cluster_temporal.log_path(layout, s) for s in TEMPORAL_SERVICES]),
        )
    # The dev server's UI is part of `temporal server start-dev`; the cluster gets the UI's own
    # server (same version) as a client of the frontend.
    cluster_temporal.write_ui_config(layout)
    ui_log = cluster_temporal.log_path(layout, "ui")
    ui = adopt_or_start(
        UI,
        f"localhost:{layout.temporal_ui_port}",
        _tcp_listens,
        state.services.get(UI),
        _launcher(cluster_temporal.ui_command(build, layout), ui_log, layout.temporal_root),
        [ui_log],
        settings,
        report,
    )
    _record(state, [UI], await _all([ui]))


async def _kafka_up(
    settings: StackSettings, layout: ClusterLayout, state: StackState, report: Report
) -> None:
    java = shutil.which("java")
    if java is None:
        raise ServiceStartError("kafka", "java (17 or newer) is not on PATH", "")
    await asyncio.to_thread(cluster_kafka.prepare, layout, java)
    starts: list[Awaitable[Outcome]] = []
    for broker in BROKER_IDS:
        name = cluster_kafka.service_name(broker)
        log = cluster_kafka.stdout_log(layout, broker)
        cmd = cluster_kafka.broker_command(layout, broker, java, settings.kafka_heap)
        starts.append(
            adopt_or_start(
                name,
                f"localhost:{layout.client_port(broker)}",
                _tcp_listens,
                state.services.get(name),
                _launcher(cmd, log, layout.kafka_root(broker)),
                [log],
                settings,
                report,
            )
        )
    names = [cluster_kafka.service_name(b) for b in BROKER_IDS]
    _record(state, names, await _all(starts))
    # Listening is not serving: wait until the metadata names all three brokers.
    for _ in range(int(settings.start_timeout_s)):
        if await cluster_kafka.brokers_answering(layout) == len(BROKER_IDS):
            return
        await asyncio.sleep(1.0)
    raise ServiceStartError(
        "kafka",
        "the brokers listen but do not all join the cluster",
        log_tails([cluster_kafka.log_dir(layout, b) / "server.log" for b in BROKER_IDS]),
    )


def _launcher(cmd: list[str], log: Path, cwd: Path) -> Callable[[], Started]:
    def launch() -> Started:
        cwd.mkdir(parents=True, exist_ok=True)
        return start_detached(cmd, log, cwd=cwd)

    return launch


async def _all(starts: list[Awaitable[Outcome]]) -> list[Outcome | BaseException]:
    return list(await asyncio.gather(*starts, return_exceptions=True))


def _record(state: StackState, names: list[str], results: list[Outcome | BaseException]) -> None:
    """Record every process that started, then raise the first failure (if any)."""
    failure: BaseException | None = None
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            failure = failure or result
        elif result.record is not None:
            state.services[name] = result.record
        else:
            state.services.pop(name, None)
    if failure is not None:
        raise failure


# -------------------------------------------------------------------------------- down


def down(settings: StackSettings, *, report: Report = _quiet) -> None:
    """Stop what `up --profile cluster` started: services first, PostgreSQL last."""
    settings = _settings(settings)
    layout = ClusterLayout.of(settings)
    with locked(layout.root):
        state = StackState.load(layout.stack_file)
        services = {n: r for n, r in state.services.items() if n != POSTGRES}
        with ThreadPoolExecutor(max_workers=len(services) or 1) as pool:
            futures = {
                name: pool.submit(stop_process, record, timeout_s=30.0)
                for name, record in services.items()
            }
            for name, future in futures.items():
                gone = "stopped" if future.result() else "was gone"
                report(f"{name}: {gone} (pid {services[name].pid})")
                state.services.pop(name, None)
        pg_record = state.services.pop(POSTGRES, None)
        if pg_record is not None:
            pg = cluster_postgres.ClusterPostgres.of(layout)
            stopped = still_ours(pg_record)
            if stopped:
                cluster_postgres.stop(pg)
            report(f"postgres: {'stopped' if stopped else 'was gone'} (pid {pg_record.pid})")
        if not services and pg_record is None:
            report("nothing started by the cluster profile is recorded; nothing stopped")
        state.endpoints = {}
        state.access = {}
        state.save(layout.stack_file)


def kill_member(settings: StackSettings, name: str, *, report: Report = _quiet) -> bool:
    """kill -9 one member `up` started (a broker, a Temporal service), for faults and drills;
    `up` starts it again. False when it is not ours to kill."""
    if name not in member_names() or name == POSTGRES:
        raise ValueError(f"unknown member {name!r}; one of {', '.join(member_names()[1:])}")
    settings = _settings(settings)
    layout = ClusterLayout.of(settings)
    with locked(layout.root):
        state = StackState.load(layout.stack_file)
        record = state.services.get(name)
        if record is None or not still_ours(record):
            report(f"{name}: not running as started by this stack")
            return False
        os.killpg(record.pid, signal.SIGKILL)
        state.services.pop(name, None)
        state.save(layout.stack_file)
        report(f"{name}: killed (pid {record.pid})")
        return True


# ------------------------------------------------------------------------------ status


async def status(settings: StackSettings) -> list[ServiceStatus]:
    settings = _settings(settings)
    layout = ClusterLayout.of(settings)
    state = StackState.load(layout.stack_file)
    pg = cluster_postgres.ClusterPostgres.of(layout)
    rows: list[tuple[str, str, Path]] = [
        (POSTGRES, f"127.0.0.1:{pg.port}", pg.log),
        *(
            (
                temporal_service_name(s),
                f"localhost:{layout.temporal_ports(s)[0]}",
                cluster_temporal.log_path(layout, s),
            )
            for s in TEMPORAL_SERVICES
        ),
        (UI, layout.temporal_ui_url, cluster_temporal.log_path(layout, "ui")),
        *(
            (
                cluster_kafka.service_name(b),
                f"localhost:{layout.client_port(b)}",
                cluster_kafka.stdout_log(layout, b),
            )
            for b in BROKER_IDS
        ),
    ]

    async def one(name: str, address: str, log: Path) -> ServiceStatus:
        record = state.services.get(name)
        alive = record is not None and still_ours(record)
        return ServiceStatus(
            name=name,
            up=await _tcp_listens(address.removeprefix("http://")),
            address=address,
            pid=record.pid if record is not None and alive else None,
            log=str(log),
            managed=alive,
        )

    return list(await asyncio.gather(*(one(*row) for row in rows)))
