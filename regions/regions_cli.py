"""`tongban regions list`: the GB/T 2260 codes this deployment knows."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from regions.cli_tables import Col, console, print_whole, table
from regions.codes import REGIONS, UnknownRegion, region

app = typer.Typer(help="GB/T 2260 administrative divisions.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """GB/T 2260 administrative divisions."""


@app.command("list")
def list_regions(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    parent: Annotated[
        str | None, typer.Option(help="Only the divisions directly under this code.")
    ] = None,
) -> None:
    """List provinces and cities (all, or the children of --parent)."""
    if parent is not None:
        try:
            region(parent)
        except UnknownRegion as err:
            typer.echo(f"error: {err.args[0]}", err=True)
            raise typer.Exit(2) from err
    rows = [r for r in REGIONS.values() if parent is None or r.parent == parent]
    rows.sort(key=lambda r: r.code)
    if as_json:
        payload = [
            {"code": r.code, "name": r.name, "parent": r.parent, "level": r.level} for r in rows
        ]
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    columns = (Col("code", ident=True), Col("name"), Col("level"), Col("parent", ident=True))
    cells = [(r.code, r.name, r.level, r.parent or "") for r in rows]
    print_whole(console(), table(columns, cells, title=f"{len(rows)} regions"))
