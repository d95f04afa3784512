"""`tongban audit verify`: is this node's message log intact and every envelope authentic?"""

from __future__ import annotations

import asyncio
from typing import Annotated

import asyncpg
import typer

app = typer.Typer(no_args_is_help=True, help="Audit the hash-chained message log.")


async def _verify(region: str) -> int:
    from events.audit import audit_message_log
    from events.trust import DirectoryError
    from regions.local import local_node_settings
    from regions.node import credentials_for
    from regions.stack.settings import StackSettings

    settings = local_node_settings(region, StackSettings())
    try:
        directory = credentials_for(settings).directory()
    except (DirectoryError, FileNotFoundError) as exc:
        typer.echo(f"error: trust directory: {exc}", err=True)
        return 2
    conn = await asyncpg.connect(settings.postgres_dsn.get_secret_value())
    try:
        report = await audit_message_log(conn, directory, region)
    finally:
        await conn.close()
    if report.first_break is not None:
        typer.echo(
            f"BROKEN: message log of {region}, row seq {report.first_break.seq}:"
            f" {report.first_break.problem} ({report.rows} rows)"
        )
        return 1
    typer.echo(
        f"ok: message log of {region} intact, {report.rows} rows, every signature verifies"
        f" (directory v{directory.version})"
    )
    return 0


@app.command("verify")
def verify(region: Annotated[str, typer.Option("--region", help="GB/T 2260 code")]) -> None:
    """Check the hash chain and every signature; exit 1 and name the first broken row."""
    raise typer.Exit(asyncio.run(_verify(region)))
