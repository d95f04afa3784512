"""`tongban ratings report`: a region's 好差评 over a period of Beijing days (decision 0039)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from events.stores.ratings import RatingRow
from operators.ratings_report import RatingsReport, daily_export, period_bounds
from regions.cli_filters import known_region

app = typer.Typer(
    no_args_is_help=True, help="好差评: the applicants' ratings and their 差评 handling."
)


@app.callback()
def ratings() -> None:
    """好差评: the applicants' ratings a region answers for."""


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("a Beijing calendar day, YYYY-MM-DD", param_hint=option) from None


def _dsn(region: str) -> str:
    from deploy.stack.settings import StackSettings
    from regions.local import local_node_settings

    return local_node_settings(region, StackSettings()).postgres_dsn.get_secret_value()


async def read_period(
    dsn: str, region: str, since: date, until: date
) -> tuple[list[RatingRow], dict[str, int]]:
    """The ratings `region` answers for, rated from the start of `since` to the end of `until`
    (Beijing days), and the 邀评 it ordered then, by state."""
    import asyncpg

    from events.ratings import INVITATION_KEY
    from events.stores import ratings

    start, end = period_bounds(since, until)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await ratings.answerable_by(conn, region, start, end)
        return rows, await ratings.invitations_sent(conn, INVITATION_KEY, start, end)
    finally:
        await conn.close()


@app.command("report")
def report(
    region: Annotated[
        str, typer.Option("--region", help="GB/T 2260 code of the region", callback=known_region)
    ],
    since: Annotated[str, typer.Option("--from", help="First Beijing day, YYYY-MM-DD")],
    until: Annotated[str, typer.Option("--to", help="Last Beijing day, YYYY-MM-DD (inclusive)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Counts by level, by item, by window and by side (收件地 A / 办理地 B) of the ratings the
    region answers for (谁办理谁负责), and its 差评: answered on time, late, open, escalated.
    Ratings set aside on appeal are counted apart."""
    first, last = _day(since, "--from"), _day(until, "--to")
    if last < first:
        raise typer.BadParameter("on or after --from", param_hint="--to")
    rows, invitations = asyncio.run(read_period(_dsn(region), region, first, last))
    found = RatingsReport.of(region, first, last, rows, datetime.now(UTC), invitations)
    if as_json:
        typer.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=2))
        return
    for line in found.lines():
        typer.echo(line)


@app.command("export")
def export(
    region: Annotated[
        str, typer.Option("--region", help="GB/T 2260 code of the region", callback=known_region)
    ],
    day: Annotated[str, typer.Option("--day", help="The Beijing day, YYYY-MM-DD")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (default: standard output)")
    ] = None,
) -> None:
    """The day's ratings the region answers for, as JSON for the provincial 好差评 system
    (format `tongban.ratings.daily/1`, docs/ratings-export.md); no comment or other free text."""
    on_day = _day(day, "--day")
    rows, _ = asyncio.run(read_period(_dsn(region), region, on_day, on_day))
    text = json.dumps(
        daily_export(region, on_day, rows, datetime.now(UTC)), ensure_ascii=False, indent=2
    )
    if out is None:
        typer.echo(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    typer.echo(f"{len(rows)} ratings of {region} on {on_day.isoformat()} written to {out}")
