"""`tongban tokens issue | list | revoke`: bearer tokens for windows and offices.

A token is printed once, at issue; only its hash is kept. `list` and `revoke` name tokens by
their id (12 hex digits), which grants nothing and may be written in a ticket or a log.
A window clerk's or processing officer's token is issued to a named person (`--person 工号
--name 姓名`): every step taken with it records that person in the case's workflow.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from deploy.stack.settings import StackSettings
from regions.beijing_time import show
from regions.codes import UnknownRegion
from regions.codes import region as lookup_region
from regions.tokens import (
    Role,
    TokenRecord,
    TokenRejected,
    TokenStore,
    UnknownTokenId,
    describe,
    token_id,
)

app = typer.Typer(no_args_is_help=True, help="Bearer tokens for windows and offices.")

DirectoryOption = Annotated[
    Path | None, typer.Option(help="Tokens directory (default: state/tokens)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]


def tokens_dir(stack: StackSettings) -> Path:
    """Where a local node looks for tokens (NodeSettings.tokens_path with local defaults)."""
    return stack.state_dir / "tokens"


def _store(directory: Path | None) -> TokenStore:
    return TokenStore(directory or tokens_dir(StackSettings()))


def _known_region(code: str) -> str:
    try:
        lookup_region(code)
    except UnknownRegion as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--region") from None
    return code


@app.command("issue")
def issue(
    region: Annotated[str, typer.Option(help="GB/T 2260 code of the token's region")],
    role: Annotated[Role, typer.Option(help="window-clerk, processing-officer or operator")],
    window: Annotated[str, typer.Option(help="The window or office the token is for")],
    person: Annotated[
        str | None,
        typer.Option(help="工号 of the person the token is for (required for clerks and officers)"),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="姓名 of that person (required with --person)"),
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days until it expires")] = 30,
    directory: DirectoryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue a token to a person at a window or office. It is printed once: only its SHA-256
    hash is kept. Every step taken with it records the person (工号, name) and the window."""
    if role is not Role.OPERATOR and (person is None or name is None):
        raise typer.BadParameter(
            f"a {role.value} token is issued to a named person: give --person 工号 and --name 姓名",
            param_hint="--person/--name",
        )
    if (person is None) != (name is None):
        raise typer.BadParameter("give both --person and --name, or neither")
    try:
        token, record = _store(directory).issue(
            region=_known_region(region),
            role=role,
            window=window,
            valid_for=timedelta(days=days),
            now=datetime.now(UTC),
            person_id=person,
            person_name=name,
        )
    except ValidationError as exc:
        # Only the rule is shown: the refused value goes nowhere, not even to the terminal.
        rules = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'token'}: {e['msg']}" for e in exc.errors()
        )
        raise typer.BadParameter(rules, param_hint="--person/--name/--window") from None
    if as_json:
        typer.echo(json.dumps({"token": token, **describe(record)}, ensure_ascii=False))
        return
    console = Console(stderr=True)
    console.print(
        f"{role.value} token {record.token_id} for {_person(record)}window [bold]{window}[/bold]"
        f" of {region}, valid until {show(record.expires_at)}."
        " Shown once; keep it secret:"
    )
    typer.echo(token)


def _person(record: TokenRecord) -> str:
    return f"{record.person_name}（工号 {record.person_id}）at " if record.person_id else ""


@app.command("list")
def list_tokens(
    region: Annotated[str | None, typer.Option(help="Only this region's tokens")] = None,
    directory: DirectoryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every kept token: id, what it grants, the person (工号 and name) it was issued to, expiry
    and state (active, expired, revoked). No secret and no hash is shown."""
    now = datetime.now(UTC)
    records = sorted(
        _store(directory).records(_known_region(region) if region else None),
        key=lambda r: (r.region, r.issued_at),
    )
    if as_json:
        typer.echo(json.dumps([describe(r, now) for r in records], ensure_ascii=False, indent=2))
        return
    if not records:
        typer.echo("no tokens" + (f" for {region}" if region else ""))
    for record in records:
        since = f" {show(record.revoked_at)}" if record.revoked_at else ""
        person = f"{record.person_id} {record.person_name}" if record.person_id else "-"
        typer.echo(
            f"{record.token_id}  {record.region}  {record.role.value:<18}  {record.window:<16}"
            f"  {person:<20}  expires {show(record.expires_at)}"
            f"  {record.state(now).value}{since}"
        )


def _held_token(variable: str) -> tuple[str, str]:
    """The id and region of the token in the environment variable: read from the environment,
    never the command line, where a token would end up in shell history."""
    token = os.environ.get(variable, "")
    try:
        return token_id(token), token.split("_")[1]
    except TokenRejected:
        raise typer.BadParameter(
            f"${variable} does not hold a tongban token", param_hint="--token-env"
        ) from None


@app.command("revoke")
def revoke(
    token_id_arg: Annotated[
        str | None, typer.Argument(metavar="TOKEN_ID", help="The id `tokens list` shows")
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option(help="Revoke the token held in this environment variable (e.g. a leaked one)"),
    ] = None,
    directory: DirectoryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: the node refuses it (401) from its next request on, without a restart."""
    if token_env is None and token_id_arg is not None:
        wanted, region = token_id_arg, None
    elif token_env is not None and token_id_arg is None:
        wanted, region = _held_token(token_env)
    else:
        raise typer.BadParameter("give either a TOKEN_ID or --token-env, not both or neither")
    try:
        record = _store(directory).revoke(wanted, now=datetime.now(UTC), region=region)
    except UnknownTokenId as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(describe(record, datetime.now(UTC)), ensure_ascii=False))
        return
    typer.echo(
        f"revoked {record.token_id} ({record.role.value}, window {record.window} of"
        f" {record.region}) at {show(record.revoked_at, seconds=True)}"
    )
