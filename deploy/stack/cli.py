"""`tongban stack up | down | status`: the local Kafka, Temporal and Postgres."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from deploy.stack.processes import ServiceStartError
from deploy.stack.settings import StackSettings, load_endpoints

if TYPE_CHECKING:
    from deploy.stack.manager import ServiceStatus

# The manager (Temporal, Kafka, Postgres clients) and the Kafka admin are imported inside the
# commands that use them, so the CLI starts without them (issue 24).

app = typer.Typer(
    help="The local stack: Kafka (KRaft), Temporal dev server, embedded Postgres.",
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

RegionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--region",
        "-r",
        help="Region code to provision (repeatable); default: 350000 440000 350100 350200 110000.",
    ),
]


ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="default: the dev stack; cluster: Temporal's own server on PostgreSQL and three "
        "Kafka brokers with TLS under state/cluster/ (default: $TONGBAN_STACK_PROFILE).",
    ),
]
_PROFILES = ("default", "cluster")


def _settings(regions: list[str] | None = None, profile: str | None = None) -> StackSettings:
    if profile is not None and profile not in _PROFILES:
        raise typer.BadParameter(f"{profile!r} is not one of {', '.join(_PROFILES)}")
    update: dict[str, object] = {}
    if regions:
        update["regions"] = tuple(regions)
    if profile is not None:
        update["stack_profile"] = profile
    return StackSettings(**update)  # type: ignore[arg-type]


def _report(message: str) -> None:
    console.print(f"[dim]·[/dim] {message}")


@app.command()
def up(region: RegionOption = None, profile: ProfileOption = None) -> None:
    """Start what is missing (detached), wait until everything answers, provision regions."""
    from deploy.stack import manager
    from deploy.stack.migrations import MigrationError
    from deploy.stack.temporal_build import TemporalBuildError

    settings = _settings(region, profile)
    began = time.monotonic()
    try:
        endpoints = asyncio.run(manager.up(settings, report=_report))
    except ServiceStartError as err:
        err_console.print(f"[bold red]{err.service} failed to start:[/bold red] {err.reason}")
        if err.log_tail:
            err_console.print(err.log_tail, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err
    except MigrationError as err:
        err_console.print(f"[bold red]migration failed:[/bold red] {err}", markup=False)
        raise typer.Exit(1) from err
    except TemporalBuildError as err:
        err_console.print(f"[bold red]temporal build failed:[/bold red] {err}", markup=False)
        raise typer.Exit(1) from err
    console.print(
        f"[green]stack up[/green] ({settings.stack_profile}) in {time.monotonic() - began:.1f}s "
        f"(regions {', '.join(settings.regions)})"
    )
    _print_table(asyncio.run(manager.status(settings)))
    if endpoints.temporal_ui:
        console.print(f"Temporal UI: {endpoints.temporal_ui}")
    console.print(f"state: {settings.stack_file}")


@app.command()
def build() -> None:
    """Build Temporal's own server for the cluster profile into the cache (once: minutes)."""
    from deploy.stack.temporal_build import TemporalBuild, TemporalBuildError, ensure_built

    target = TemporalBuild.cached()
    try:
        built_s = ensure_built(build=target)
    except TemporalBuildError as err:
        err_console.print(f"[bold red]temporal build failed:[/bold red] {err}", markup=False)
        raise typer.Exit(1) from err
    said = f"built in {built_s:.0f}s" if built_s else "already built"
    console.print(f"temporal {said}: {target.root}")


@app.command()
def down(profile: ProfileOption = None) -> None:
    """Stop only the processes that `up` started."""
    from deploy.stack import manager

    manager.down(_settings(profile=profile), report=_report)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="For scripts: exit 3 when any service is down (default: always 0)."
        ),
    ] = False,
    profile: ProfileOption = None,
) -> None:
    """Show each service: up/down, address, pid, log. A stack that is down is a state, not
    an error: the exit code is 0 unless --check is given."""
    from deploy.stack import manager

    rows = asyncio.run(manager.status(_settings(profile=profile)))
    if as_json:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=2, ensure_ascii=False))
    else:
        _print_table(rows)
    if check and not all(row.up for row in rows):
        raise typer.Exit(3)


@app.command()
def provision(region: RegionOption = None) -> None:
    """Namespaces, databases and schema on configured Temporal and Postgres (no Kafka)."""
    from deploy.stack import manager
    from deploy.stack.migrations import MigrationError

    try:
        asyncio.run(manager.provision(_settings(region), report=_report))
    except (ValueError, MigrationError) as err:
        err_console.print(f"[bold red]provision failed:[/bold red] {err}", markup=False)
        raise typer.Exit(1) from err


@app.command("join-region")
def join_region(
    region: Annotated[str, typer.Option("--region", "-r", help="GB/T 2260 code")],
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Exchange bootstrap for the admin client (default: the local stack)"),
    ] = None,
    command_config: Annotated[
        Path | None,
        typer.Option(help="Admin client properties (TLS, SASL) for a production exchange"),
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            help="Variable holding the region's SCRAM password (default, local stack "
            "only: generated once and kept 0600 under the state dir)"
        ),
    ] = None,
    partitions: Annotated[
        int | None, typer.Option(min=1, help="Inbox partitions (default: the exchange's, 3)")
    ] = None,
    replication_factor: Annotated[int, typer.Option(min=1)] = 1,
    min_insync_replicas: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    """Give a region its inbox topic, SCRAM principal and ACLs on the exchange."""
    from deploy.stack import kafka_acls
    from deploy.stack.kafka import INBOX_PARTITIONS

    settings = _settings()
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            raise typer.BadParameter(f"environment variable {password_env} is not set")
    elif bootstrap is not None:
        raise typer.BadParameter("a production exchange needs --password-env")
    else:
        password = kafka_acls.local_password(settings.state_dir, region)
    configs = {"min.insync.replicas": str(min_insync_replicas)} if min_insync_replicas else {}
    topic = kafka_acls.TopicSpec(
        INBOX_PARTITIONS if partitions is None else partitions, replication_factor, configs
    )
    try:
        lines = kafka_acls.join_regions(
            settings.state_dir,
            bootstrap or load_endpoints(settings).kafka_bootstrap,
            {region: password},
            topic=topic,
            command_config=command_config,
        )
    except (kafka_acls.RegionAccessError, ValueError) as err:
        err_console.print(f"[bold red]join-region failed:[/bold red] {err}", markup=False)
        raise typer.Exit(1) from err
    for line in lines:
        console.print(line, markup=False, highlight=False)
    console.print(
        f"principal User:{kafka_acls.principal_name(region)} ({kafka_acls.SCRAM_MECHANISM})"
    )
    if password_env is None:
        console.print(f"password in {kafka_acls.password_path(settings.state_dir, region)}")


@app.command()
def certs(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="Where the CA and certificates go (default: state/cluster/certs)."
        ),
    ] = None,
    region: RegionOption = None,
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            help="A name or address servers are dialled by (repeatable; default: localhost "
            "127.0.0.1).",
        ),
    ] = None,
) -> None:
    """Issue the CA, Temporal frontend, Kafka broker, exchange admin and one client certificate
    per region (CN region-<code>), and under internode/ a CA of its own for Temporal's services
    and the Web UI; existing valid ones are kept."""
    from deploy.stack import certs as stack_certs

    settings = _settings(region)
    root = directory or settings.cluster_dir / "certs"
    hosts = tuple(host) if host else stack_certs.LOCAL_NAMES
    issued = stack_certs.issue_production(root, settings.regions, hosts)
    console.print(f"issued: {', '.join(issued) or 'nothing (all valid)'}")
    console.print(f"in: {root}")


def _print_table(rows: list[ServiceStatus]) -> None:
    from rich.table import Table

    table = Table("service", "state", "address", "pid", "log")
    for column in table.columns:
        column.overflow = "fold"  # addresses and paths are meant to be copied whole
    for row in rows:
        state = "[green]up[/green]" if row.up else "[red]down[/red]"
        if row.up and not row.managed:
            state += " [dim](not ours)[/dim]"
        table.add_row(row.name, state, row.address or "-", str(row.pid or "-"), row.log or "-")
    console.print(table)


if __name__ == "__main__":
    app()
