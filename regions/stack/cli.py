"""`tongban stack up | down | status`: the local Kafka, Temporal and Postgres."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from regions.stack import manager
from regions.stack.migrations import MigrationError
from regions.stack.processes import ServiceStartError
from regions.stack.settings import StackSettings

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


def _settings(regions: list[str] | None = None) -> StackSettings:
    if regions:
        return StackSettings(regions=tuple(regions))
    return StackSettings()


def _report(message: str) -> None:
    console.print(f"[dim]·[/dim] {message}")


@app.command()
def up(region: RegionOption = None) -> None:
    """Start what is missing (detached), wait until everything answers, provision regions."""
    settings = _settings(region)
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
    console.print(
        f"[green]stack up[/green] in {time.monotonic() - began:.1f}s "
        f"(regions {', '.join(settings.regions)})"
    )
    _print_table(asyncio.run(manager.status(settings)))
    if endpoints.temporal_ui:
        console.print(f"Temporal UI: {endpoints.temporal_ui}")
    console.print(f"state: {settings.stack_file}")


@app.command()
def down() -> None:
    """Stop only the processes that `up` started."""
    manager.down(_settings(), report=_report)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show each service: up/down, address, pid, log."""
    rows = asyncio.run(manager.status(_settings()))
    if as_json:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=2, ensure_ascii=False))
    else:
        _print_table(rows)
    if not all(row.up for row in rows):
        raise typer.Exit(3)


def _print_table(rows: list[manager.ServiceStatus]) -> None:
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
