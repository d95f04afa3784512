"""`tongban quarantine`: list, show and re-drive records a node refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from operators.output import emit
from regions.beijing_time import show_iso
from regions.cli_filters import known_region

app = typer.Typer(no_args_is_help=True, help="Records a node refused: list, show, re-drive, prune.")

if TYPE_CHECKING:
    import asyncpg

    from events.pg import Conn
    from regions.node_settings import NodeSettings

T = TypeVar("T")

RegionOption = Annotated[
    str, typer.Option("--region", help="GB/T 2260 code of the node", callback=known_region)
]


def _settings(region: str) -> NodeSettings:
    from deploy.stack.settings import StackSettings
    from regions.local import local_node_settings

    return local_node_settings(region, StackSettings())


async def _fetch(region: str, sql: str, *args: object) -> list[asyncpg.Record]:
    import asyncpg

    conn = await asyncpg.connect(_settings(region).postgres_dsn.get_secret_value())
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _on_region(region: str, read: Callable[[Conn], Awaitable[T]]) -> T:
    import asyncpg

    conn = await asyncpg.connect(_settings(region).postgres_dsn.get_secret_value())
    try:
        return await read(conn)
    finally:
        await conn.close()


@app.command("list")
def list_records(
    region: RegionOption,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    all_records: Annotated[bool, typer.Option("--all", help="Include redriven records")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 200,
) -> None:
    """Quarantined records, newest first (redriven ones only with --all); times in Beijing time,
    --json in UTC (ISO 8601)."""
    from operators.quarantine import quarantined_records

    records = asyncio.run(
        _on_region(
            region, lambda c: quarantined_records(c, include_redriven=all_records, limit=limit)
        )
    )
    emit(
        records,
        as_json=as_json,
        empty=f"no quarantined records in {region}",
        line=lambda r: (
            f"{r['id']:>6}  {show_iso(r['received_at'], seconds=True)}  {r['reason']:<22}"
            f" from {r['claimed_sender'] or '?':<6} {r['bytes']:>8} B"
            f"  {r['topic']}/{r['partition']}/{r['offset']}  {r['detail']}"
        ),
    )


@app.command("show")
def show(
    record_id: Annotated[int, typer.Argument(metavar="ID")],
    region: RegionOption,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One record with its headers and raw bytes (text when it is UTF-8, else hex).

    The raw bytes are what the bus carried: personal data in them is sealed ciphertext."""
    from operators.quarantine import SUMMARY_COLUMNS, summary

    rows = asyncio.run(
        _fetch(
            region,
            f"SELECT {SUMMARY_COLUMNS}, raw, headers, redrive_note FROM quarantine WHERE id = $1",
            record_id,
        )
    )
    if not rows:
        typer.echo(f"no quarantined record {record_id} in {region}", err=True)
        raise typer.Exit(1)
    row = rows[0]
    raw = bytes(row["raw"])
    try:
        text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = raw.hex(), "hex"
    headers = row["headers"]
    if isinstance(headers, str):
        headers = json.loads(headers)
    record = {
        **summary(row),
        "redrive_note": row["redrive_note"],
        "headers": headers,
        "raw_encoding": encoding,
        "raw": text,
    }
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    for key, value in record.items():
        if key != "raw":
            typer.echo(f"{key:>13}: {value}")
    typer.echo(f"{'raw':>13}:\n{text}")


async def _redrive(region: str, record_id: int) -> int:
    from events.redrive import NotRedrivable, redrive
    from events.rejections import Rejected
    from events.verify import VerifyLimits, verifier_for
    from regions.node import dispatcher_for, node_services

    settings = _settings(region)
    async with node_services(settings) as services:
        credentials = services.credentials
        verify = verifier_for(
            region,
            credentials.verifying_directory,
            VerifyLimits(max_bytes=settings.max_record_bytes),
        )
        async with services.pool.acquire() as conn:
            try:
                result = await redrive(conn, record_id, verify, region, credentials.signer)
            except Rejected as rejected:
                typer.echo(
                    f"record {record_id} still fails: {rejected.reason.value}: {rejected.detail}"
                    " (nothing changed)",
                    err=True,
                )
                return 1
            except NotRedrivable as exc:
                typer.echo(f"error: {exc}", err=True)
                return 1
        typer.echo(
            f"record {record_id} redriven: {result.stored.value} as"
            f" {result.envelope.type.value} event {result.envelope.id}"
        )
        if result.dispatchable:
            # If this fails the node's sweeper delivers the stored row later.
            dispatcher = dispatcher_for(settings, services)
            await dispatcher.deliver([(result.envelope.senderregion, result.envelope.id)])
            typer.echo("dispatched to the case workflow")
    return 0


@app.command("redrive")
def redrive_record(
    record_id: Annotated[int, typer.Argument(metavar="ID")], region: RegionOption
) -> None:
    """Verify the stored bytes again (e.g. after a directory update); if they pass, store
    them in the inbox as if just received and dispatch them. Otherwise say why."""
    raise typer.Exit(asyncio.run(_redrive(region, record_id)))


async def _prune(region: str, older_than_days: int | None, dry_run: bool) -> tuple[int, int]:
    import asyncpg

    settings = _settings(region)
    days = older_than_days if older_than_days is not None else settings.quarantine_retention_days
    conn = await asyncpg.connect(settings.postgres_dsn.get_secret_value())
    try:
        cutoff = "received_at < now() - make_interval(days => $1)"
        if dry_run:
            count = await conn.fetchval(f"SELECT count(*) FROM quarantine WHERE {cutoff}", days)
        else:
            count = len(
                await conn.fetch(f"DELETE FROM quarantine WHERE {cutoff} RETURNING 1", days)
            )
    finally:
        await conn.close()
    return int(count), days


@app.command("prune")
def prune(
    region: RegionOption,
    older_than_days: Annotated[
        int | None,
        typer.Option(
            "--older-than-days", min=1, help="Default: the node's quarantine_retention_days"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only")] = False,
) -> None:
    """Delete quarantined records older than the retention (redriven or not)."""
    count, days = asyncio.run(_prune(region, older_than_days, dry_run))
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {count} quarantined records of {region} older than {days} days")


@app.command("senders")
def senders(
    region: RegionOption,
    hours: Annotated[float, typer.Option(min=0.01, help="Window to count over")] = 24.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Refused records per claimed sender and reason in the last hours: where a flood comes
    from (the sender is what the record claims; it was not verified)."""
    from operators.quarantine import refused_by_sender

    since = datetime.now(UTC) - timedelta(hours=hours)
    found = asyncio.run(_on_region(region, lambda c: refused_by_sender(c, since)))
    emit(
        found,
        as_json=as_json,
        empty=f"no records refused by {region} in the last {hours:g} h",
        line=lambda f: (
            f"{f['sender']:<7} {f['reason']:<24} {f['records']:>7} records"
            f" {f['bytes']:>10} B  last {show_iso(f['last_at'], seconds=True)}"
        ),
    )
