"""`tongban outbox`: outgoing records the relay set aside (parked) instead of sending."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from operators.output import emit
from regions.beijing_time import show_iso
from regions.cli_filters import known_region

app = typer.Typer(no_args_is_help=True, help="Outgoing records: those parked by the relay.")

RegionOption = Annotated[
    str, typer.Option("--region", help="GB/T 2260 code of the node", callback=known_region)
]


async def _parked(dsn: str, limit: int) -> list[dict[str, Any]]:
    import asyncpg

    from operators.parked import parked_records

    conn = await asyncpg.connect(dsn)
    try:
        return await parked_records(conn, limit)
    finally:
        await conn.close()


def _dsn(region: str) -> str:
    from deploy.stack.settings import StackSettings
    from regions.local import local_node_settings

    return local_node_settings(region, StackSettings()).postgres_dsn.get_secret_value()


@app.command("parked")
def parked(
    region: RegionOption,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 200,
) -> None:
    """Records the producer or the broker refused as too large, newest first. Each is marked
    failed, so its case workflow was told; the rest of the outbox went on without it."""
    emit(
        asyncio.run(_parked(_dsn(region), limit)),
        as_json=as_json,
        empty=f"no parked outbox records in {region}",
        line=lambda r: (
            f"{show_iso(r['parked_at'], seconds=True)}  {r['event_id']}  {r['case_no']}"
            f"  {r['event_type'].rsplit('.', 1)[-1]:<22} to {r['recipient']}"
            f"  {r['bytes']:>9} B  {r['reason']}: {r['detail']}"
        ),
    )
