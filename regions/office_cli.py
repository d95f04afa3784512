"""`tongban office ...`: a processing officer's steps (processing region B) through the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from regions.api_client import (
    DEFAULT_API,
    DEFAULT_TOKEN_ENV,
    ApiOpt,
    JsonOpt,
    TokenEnvOpt,
    WaitOpt,
    post_step,
)
from regions.window_cli import Case, case_file, list_cases, material_file
from regions.window_cli import show as steps

app = typer.Typer(no_args_is_help=True, help="Processing officer (办理地 B): accept and decide.")
app.command("show", help="The case file (案卷): applicant, materials, 补正 history.")(case_file)
app.command("steps", help="A case's status and steps.")(steps)
app.command("material", help="Save one material's file.")(material_file)
app.command("list")(list_cases)

Reason = Annotated[str, typer.Option(help="Reason, told to the applicant")]


def _step(
    api: str | None,
    token_env: str,
    case: str,
    step: str,
    body: dict[str, Any],
    as_json: bool,
    wait: float,
) -> None:
    post_step(api, token_env, "office", case, step, body, as_json, wait)


@app.command()
def accept(
    case: Case,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Accept the case (受理): the promised time limit starts."""
    _step(api, token_env, case, "acceptance", {"accept": True}, as_json, wait)


@app.command("not-accept")
def not_accept(
    case: Case,
    reason: Reason,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Do not accept the case (不予受理); the accepting region compensates."""
    _step(api, token_env, case, "acceptance", {"accept": False, "reason": reason}, as_json, wait)


@app.command("request-supplement")
def request_supplement(
    case: Case,
    missing: Annotated[list[str], typer.Option(help="Missing material (repeat)")],
    reason: Annotated[str, typer.Option(help="Why")] = "",
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Ask for 补正 through the accepting window; the clock pauses."""
    body = {"missing": missing, "reason": reason}
    _step(api, token_env, case, "supplement-request", body, as_json, wait)


@app.command()
def approve(
    case: Case,
    reason: Reason,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Approve; the result goes back to the accepting region."""
    _step(api, token_env, case, "decision", {"approve": True, "reason": reason}, as_json, wait)


@app.command()
def deny(
    case: Case,
    reason: Reason,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Deny; the accepting region compensates and tells the applicant why."""
    _step(api, token_env, case, "decision", {"approve": False, "reason": reason}, as_json, wait)
