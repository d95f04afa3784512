"""`tongban tokens issue`: a bearer token for one window, printed once, stored as a hash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from regions.codes import UnknownRegion
from regions.codes import region as lookup_region
from regions.stack.settings import StackSettings
from regions.tokens import Role, TokenStore, describe

app = typer.Typer(no_args_is_help=True, help="Bearer tokens for windows and offices.")


def tokens_dir(stack: StackSettings) -> Path:
    """Where a local node looks for tokens (NodeSettings.tokens_path with local defaults)."""
    return stack.state_dir / "tokens"


@app.command("issue")
def issue(
    region: Annotated[str, typer.Option(help="GB/T 2260 code of the token's region")],
    role: Annotated[Role, typer.Option(help="window-clerk, processing-officer or operator")],
    window: Annotated[str, typer.Option(help="The window or office the token is for")],
    days: Annotated[int, typer.Option(min=1, max=366, help="Days until it expires")] = 30,
    directory: Annotated[
        Path | None, typer.Option(help="Tokens directory (default: state/tokens)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts")] = False,
) -> None:
    """Issue a token. It is printed once: only its SHA-256 hash is kept."""
    try:
        lookup_region(region)
    except UnknownRegion as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--region") from None
    store = TokenStore(directory or tokens_dir(StackSettings()))
    token, record = store.issue(
        region=region,
        role=role,
        window=window,
        valid_for=timedelta(days=days),
        now=datetime.now(UTC),
    )
    if as_json:
        typer.echo(json.dumps({"token": token, **describe(record)}, ensure_ascii=False))
        return
    console = Console(stderr=True)
    console.print(
        f"{role.value} token for window [bold]{window}[/bold] of {region},"
        f" valid until {record.expires_at:%Y-%m-%d %H:%M} UTC. Shown once; keep it secret:"
    )
    typer.echo(token)
