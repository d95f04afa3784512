"""`tongban catalog list | show | validate`: the standardized service items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from catalog.catalog import default_catalog, validate_file
from catalog.errors import CatalogError, InvalidCatalog, UnknownItem
from catalog.models import ServiceItem
from regions.cli_tables import Col, WideOpt, console, print_whole, table
from regions.codes import UnknownRegion

app = typer.Typer(help="The standardized service catalog (五级十五同).", no_args_is_help=True)
err_console = Console(stderr=True)

RegionOpt = Annotated[
    str | None,
    typer.Option("--region", "-r", help="Show the versions this region resolves (GB/T 2260)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _fail(err: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/bold red] {err}", markup=True, highlight=False)
    return typer.Exit(2)


def _issuer(item: ServiceItem) -> str:
    return item.issued_by or "national"


@app.command("list")
def list_items(region: RegionOpt = None, as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    """List every item: national versions, or the versions --region resolves (codes whole at
    any width; --wide adds type, days, modes and provenance)."""
    try:
        items = default_catalog().items(region)
    except (CatalogError, UnknownRegion) as err:
        raise _fail(err) from err
    if as_json:
        typer.echo(
            json.dumps([i.model_dump(mode="json") for i in items], ensure_ascii=False, indent=2)
        )
        return
    columns = (
        Col("code", ident=True),
        Col("v"),
        Col("name"),
        Col("issuer"),
        *(Col(column, wide=True) for column in ("type", "days", "modes", "provenance")),
    )
    rows = [
        (
            i.code,
            str(i.version),
            i.name,
            _issuer(i),
            i.item_type.value,
            str(i.promised_days),
            "、".join(m.value for m in i.modes),
            i.provenance.value,
        )
        for i in items
    ]
    title = f"{len(items)} items" + (f" as {region} resolves them" if region else "")
    print_whole(console(), table(columns, rows, wide=wide, title=title))


@app.command()
def show(code: str, region: RegionOpt = None, as_json: JsonOpt = False) -> None:
    """Show one item in full (national version, or the one --region resolves)."""
    catalog = default_catalog()
    try:
        if region is not None:
            item = catalog.resolve(code, region)
        elif code in catalog.national:
            item = catalog.national[code]
        else:
            raise UnknownItem(code, "national")
    except (CatalogError, UnknownRegion) as err:
        raise _fail(err) from err
    if as_json:
        typer.echo(json.dumps(item.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    _print_item(item)


def _print_item(item: ServiceItem) -> None:
    out = console()
    out.print(
        f"[bold]{item.code} {item.name}[/bold]  v{item.version} ({_issuer(item)}),"
        f" effective {item.effective_from}, {item.item_type.value}, {item.department}"
    )
    out.print(f"provenance: {item.provenance.value}", highlight=False)
    if item.inferred_fields:
        out.print(f"  推定 fields: {', '.join(item.inferred_fields)}", highlight=False)
    out.print(f"legal basis: {'；'.join(item.legal_basis)}", highlight=False)
    statutory = f" (statutory {item.statutory_days})" if item.statutory_days is not None else ""
    out.print(f"promised: {item.promised_days} working days{statutory}")
    fees = "；".join(f"{f.item} {f.amount_fen / 100:.2f} 元 ({f.basis})" for f in item.fees)
    out.print(f"fees: {fees or '不收费'}", highlight=False)
    out.print(f"delivery: {'、'.join(d.value for d in item.delivery)}")
    out.print(f"modes: {'、'.join(m.value for m in item.modes)}")
    if item.no_materials:
        out.print("materials: 无需材料")
    else:
        columns = (
            Col("material", ident=True),  # typed exactly as the window's --material NAME
            *(Col(h) for h in ("mandatory", "data sharing", "originals", "copies", "note")),
        )
        rows = [
            (
                m.name,
                "yes" if m.mandatory else "no",
                "yes" if m.shareable else "no",
                "" if m.originals is None else str(m.originals),
                "" if m.copies is None else str(m.copies),
                m.note,
            )
            for m in item.materials
        ]
        print_whole(out, table(columns, rows))
    for title, lines in (
        ("conditions", item.conditions),
        ("procedure", item.procedure),
        ("review points", item.review_points),
    ):
        if lines:
            out.print(f"{title}:")
            for n, line in enumerate(lines, 1):
                out.print(f"  {n}. {line}", highlight=False)
    if item.route is not None:
        out.print(f"多地联办 route ({'、'.join(item.route.places)}):")
        for n, leg in enumerate(item.route.legs, 1):
            after = f", after {', '.join(leg.after)}" if leg.after else ""
            undo = f"; undone by {leg.revoked_by}" if leg.revoked_by else ""
            out.print(
                f"  {n}. {leg.step}: {leg.label} @ {leg.place} → {leg.issues}"
                f" ({leg.promised_days} working days{after}){undo}",
                highlight=False,
                soft_wrap=True,  # a leg is one line, its step code whole, at any width
            )
    for source in item.sources:
        out.print(f"source: {source.title} {source.url}", highlight=False)
    if item.notes:
        out.print(f"notes: {item.notes}", highlight=False)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Check a catalog file; a regional file is also checked against the national catalog."""
    try:
        parsed = validate_file(file)
    except InvalidCatalog as err:
        err_console.print(
            f"{file}: {len(err.violations)} rule(s) failed", highlight=False, soft_wrap=True
        )
        for v in err.violations:
            err_console.print(
                f"  {v.location}: {v.rule}: {v.message}", highlight=False, soft_wrap=True
            )
        raise typer.Exit(1) from err
    scope = f"region {parsed.region}" if parsed.region else "national"
    console().print(f"{file}: ok ({scope}, {len(parsed.items)} items)", highlight=False)
