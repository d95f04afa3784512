"""`tongban health --region R`: the exchange health panel of one node (operators/health.py).

Read from the node's database, with the trust directory the node would put in force (its file,
barred from rolling back below the version its database holds). Exit status 0, or 1 when any
figure is at 告警, so a script or a probe can act on it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from regions.beijing_time import show
from regions.cli_filters import known_region

if TYPE_CHECKING:
    from operators.health import ExchangeHealth

app = typer.Typer(
    invoke_without_command=True,
    help="The exchange health panel: outbox, peers, quarantine, trust directory, inbox.",
)

# By operators.health.Level's value (that module reads the database: imported when used).
_MARKS = {"ok": " ", "notice": "!", "alert": "✖"}


async def read_health(region: str, now: datetime) -> ExchangeHealth:
    import asyncpg

    from deploy.stack.settings import StackSettings
    from events.directory_floor import read_floor
    from operators.health import exchange_health
    from regions.local import local_node_settings
    from regions.node import credentials_for, key_store

    settings = local_node_settings(region, StackSettings())
    conn = await asyncpg.connect(settings.postgres_dsn.get_secret_value())
    try:
        floor = await read_floor(conn, key_store(settings))
        directory = credentials_for(settings, floor).directory()
        return await exchange_health(conn, region, directory, now)
    finally:
        await conn.close()


def render(health: ExchangeHealth) -> list[str]:
    """The panel as lines of text: a heading, then each section with its figures."""
    from operators.health import Level

    lines = [
        f"{health.region} {health.region_name} 交换健康状况：{health.level_zh}"
        f"  （{show(health.checked_at, seconds=True)}）"
    ]
    for section in health.sections():
        lines.append("")
        lines.append(f"{section.title_zh}  [{section.level.label_zh}]")
        for figure in section.figures:
            lines.append(
                f" {_MARKS[figure.level]} {figure.label_zh}：{figure.text_zh}"
                + ("" if figure.level is Level.OK else f"  [{figure.level_zh}]")
            )
    return lines


@app.callback()
def health(
    region: Annotated[
        str, typer.Option("--region", help="GB/T 2260 code of the node", callback=known_region)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="The panel as JSON")] = False,
) -> None:
    """The exchange health panel of one region, in Chinese (JSON with --json); exit 1 when
    any figure is at 告警."""
    from operators.health import Level

    found = asyncio.run(read_health(region, datetime.now(UTC)))
    if as_json:
        typer.echo(json.dumps(found.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        for line in render(found):
            typer.echo(line)
    if found.level is Level.ALERT:
        raise typer.Exit(1)
