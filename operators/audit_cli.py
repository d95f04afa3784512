"""`tongban audit verify`: is this node's message log intact and every envelope authentic, and
(`--peers`) does it still hold every head of it that peer regions were told of?"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from regions.cli_filters import known_region

if TYPE_CHECKING:
    from events.audit import AuditBreak
    from events.log_anchors import Anchor
    from events.trust import TrustDirectory

app = typer.Typer(no_args_is_help=True, help="Audit the hash-chained message log.")

INTACT, BROKEN, INCOMPLETE = 0, 1, 2
# Enough to see the pattern of a break; the first one is always shown.
_SHOWN_BREAKS = 20


@dataclass(frozen=True)
class _Target:
    dsn: str
    trust_dir: Path
    passphrase: bytes | None
    # Every other region's database, for `--peers`.
    peers: dict[str, str]


def _target(region: str, endpoints: Path | None, with_peers: bool) -> _Target:
    from deploy.stack.settings import StackSettings
    from operators.endpoints import endpoints_from_file, local_endpoints
    from regions.local import local_node_settings

    if endpoints is not None:
        config = endpoints_from_file(endpoints)
        return _Target(
            config.for_region(region).postgres_dsn,
            config.trust_dir,
            None,
            {c: e.postgres_dsn for c, e in config.regions.items() if c != region},
        )
    stack = StackSettings()
    settings = local_node_settings(region, stack)
    peers: dict[str, str] = {}
    if with_peers:
        found = local_endpoints(stack).regions
        peers = {c: e.postgres_dsn for c, e in found.items() if c != region}
    return _Target(
        settings.postgres_dsn.get_secret_value(), settings.trust_dir, settings.passphrase, peers
    )


def _directory(target: _Target) -> TrustDirectory:
    from events.keystore import KeyStore

    return KeyStore(target.trust_dir, target.passphrase).directory()


async def _anchors_held(region: str, peers: dict[str, str]) -> tuple[list[Anchor], list[str]]:
    """Heads of `region`'s log from every peer, and the peers that could not be read."""
    import asyncpg

    from events.log_anchors import held

    anchors: list[Anchor] = []
    unread: list[str] = []
    for peer, dsn in sorted(peers.items()):
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            unread.append(f"{peer} ({type(exc).__name__})")
            continue
        try:
            anchors.extend(await held(conn, peer, region))
        except asyncpg.PostgresError as exc:
            unread.append(f"{peer} ({type(exc).__name__})")
        finally:
            await conn.close()
    return anchors, unread


def _report_breaks(region: str, breaks: list[AuditBreak], rows: int) -> None:
    first, *rest = breaks
    typer.echo(f"BROKEN: message log of {region}, {first.describe()} ({rows} rows)")
    for later in rest[: _SHOWN_BREAKS - 1]:
        typer.echo(f"  also {later.describe()}")
    if len(rest) >= _SHOWN_BREAKS:
        typer.echo(f"  … and {len(rest) - _SHOWN_BREAKS + 1} more")


async def _verify(region: str, endpoints: Path | None, with_peers: bool) -> int:
    import asyncpg

    from events.audit import audit_anchors, audit_message_log
    from events.keystore import KeyStoreError
    from events.trust import DirectoryError

    try:
        target = _target(region, endpoints, with_peers)
        directory = _directory(target)
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        return INCOMPLETE
    except (DirectoryError, KeyStoreError, FileNotFoundError) as exc:
        typer.echo(f"error: trust directory: {exc}", err=True)
        return INCOMPLETE
    anchors, unread = await _anchors_held(region, target.peers) if with_peers else ([], [])
    conn = await asyncpg.connect(target.dsn)
    try:
        report = await audit_message_log(conn, directory, region)
        anchored = await audit_anchors(conn, anchors, directory)
    finally:
        await conn.close()
    breaks = sorted((*report.breaks, *anchored.breaks), key=lambda b: b.seq)
    if breaks:
        _report_breaks(region, breaks, report.rows)
        return BROKEN
    typer.echo(
        f"ok: message log of {region} intact, {report.rows} rows, every signature verifies"
        f" (directory v{directory.version})"
    )
    if with_peers:
        holders = sorted({a.holder for a in anchors})
        typer.echo(
            f"ok: all {anchored.anchors} heads of it held by peers"
            f" ({', '.join(holders) or 'none yet'}) are in the log"
        )
    for problem in anchored.unbacked:
        typer.echo(f"INCOMPLETE: anchor not used, {problem}")
    if unread:
        typer.echo(f"INCOMPLETE: peers not read: {', '.join(unread)}")
    return INCOMPLETE if unread or anchored.unbacked else INTACT


@app.command("verify")
def verify(
    region: Annotated[str, typer.Option("--region", help="GB/T 2260 code", callback=known_region)],
    peers: Annotated[
        bool,
        typer.Option(
            "--peers",
            help="Also check the log against the heads of it that peer regions keep from its"
            " signed receipts: names rows deleted from its end",
        ),
    ] = False,
    endpoints: Annotated[
        Path | None,
        typer.Option(
            "--endpoints",
            help="JSON file naming each region's Postgres and the trust folder"
            " (default: this node's settings, and the local stack for peers)",
        ),
    ] = None,
) -> None:
    """Check the hash chain, every signature and key revocation (and with --peers the heads
    peers hold); exit 0 intact, 1 broken (first break named), 2 not fully checked."""
    raise typer.Exit(asyncio.run(_verify(region, endpoints, peers)))
