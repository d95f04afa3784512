"""`tongban window ...`: a window clerk's steps (accepting region A) through the node's API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from events.models import Consent
from regions.api_client import (
    DEFAULT_API,
    DEFAULT_TOKEN_ENV,
    NOT_REACHED,
    ApiOpt,
    JsonOpt,
    TokenEnvOpt,
    WaitOpt,
    call,
    download,
    emit,
    emit_case_file,
    post_step,
    scans,
)
from regions.cli_errors import USAGE, refuse
from regions.cli_filters import check_status, literal_values, one_of, status_help
from regions.cli_tables import WideOpt
from workflows.lifecycle.vocabulary import DeliveryConfirmation, FormalReview

app = typer.Typer(no_args_is_help=True, help="Window clerk (收件地 A): submit and follow cases.")

Case = Annotated[str, typer.Argument(help="Case number, e.g. 350000-20261127-KWGDXZFB")]
# What the workflow's models accept, read from them (a new channel is offered without an edit).
REVIEW_OUTCOMES = literal_values(FormalReview, "outcome")
CHANNELS = literal_values(DeliveryConfirmation, "channel")
CONSENT_BY = literal_values(Consent, "given_by")
Materials = Annotated[
    list[str] | None,
    typer.Option(
        "--material",
        "-m",
        help="NAME=FILE uploads the scanned file (PDF, JPEG, PNG or OFD); NAME alone declares"
        " the material without a file. Repeat for each material.",
    ),
]
Originals = Annotated[
    list[str] | None,
    typer.Option(
        "--original",
        help="NAME of a material (given with its file) whose original you checked (核验原件)",
    ),
]


@app.command()
def submit(
    item: Annotated[str, typer.Option(help="National item code, e.g. GG-00102-000")],
    to: Annotated[str, typer.Option("--to", help="Processing region (GB/T 2260 code)")],
    name: Annotated[str, typer.Option(help="Applicant's name")],
    id_number: Annotated[str, typer.Option(help="Applicant's resident ID number")],
    phone: Annotated[str, typer.Option(help="Applicant's phone")],
    address: Annotated[str, typer.Option(help="Applicant's address")] = "",
    materials: Materials = None,
    originals: Originals = None,
    fee_fen: Annotated[int, typer.Option(help="Fee charged, in fen (must match the item)")] = 0,
    item_version: Annotated[int | None, typer.Option(help="Version the guide shows")] = None,
    consent_by: Annotated[
        str | None,
        typer.Option(
            "--consent-by",
            help="Who signed the consent to data sharing (数据共享授权): 申请人本人, 委托代理人"
            " or 法定代表人; the processing region then fetches the item's evidence itself",
            callback=one_of(CONSENT_BY, "consent-by"),
        ),
    ] = None,
    consent_recorded_by: Annotated[
        str | None,
        typer.Option("--consent-recorded-by", help="Who recorded the signed consent"),
    ] = None,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Submit an application with its materials; prints the new case number. With --wait, a
    node still starting is asked again (a submission it refused is not sent twice)."""
    if (consent_by is None) != (consent_recorded_by is None):
        refuse("--consent-by and --consent-recorded-by go together", exit_code=USAGE)
    scanned = scans(materials, originals)
    body = {
        "item_code": item,
        "processing_region": to,
        "applicant_name": name,
        "applicant_id_number": id_number,
        "applicant_phone": phone,
        "applicant_address": address,
        "materials": scanned.declared,
        "fee_fen": fee_fen,
        "item_version": item_version,
    }
    if consent_by is not None:
        body["evidence_consent"] = {
            "given_by": consent_by,
            "method": "window-signature",
            "at": datetime.now(UTC).isoformat(),
            "recorded_by": consent_recorded_by,
        }
    form = scanned.form("application", body) if scanned.files else None
    result = call(
        api, token_env, "POST", "/window/cases", body=body, form=form, what="submitting", wait=wait
    )
    if as_json:
        emit(result, True)
    else:
        typer.echo(result["case_no"])


def _step(
    api: str | None,
    token_env: str,
    case: str,
    step: str,
    body: dict[str, Any],
    as_json: bool,
    wait: float,
) -> None:
    post_step(api, token_env, "window", case, step, body, as_json, wait)


@app.command()
def review(
    case: Case,
    outcome: Annotated[
        str,
        typer.Option(
            help=f"One of: {', '.join(REVIEW_OUTCOMES)}",
            callback=one_of(REVIEW_OUTCOMES, "outcome"),
        ),
    ],
    missing: Annotated[list[str] | None, typer.Option(help="Missing material (repeat)")] = None,
    reason: Annotated[str, typer.Option(help="Reason (needed to refuse)")] = "",
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Record the formal review (形式审查)."""
    body = {"outcome": outcome, "missing": missing or [], "reason": reason}
    _step(api, token_env, case, "formal-review", body, as_json, wait)


@app.command()
def supplement(
    case: Case,
    materials: Materials = None,
    originals: Originals = None,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Provide 补正 materials (NAME=FILE uploads the file)."""
    scanned = scans(materials, originals)
    body = {"materials": scanned.declared}
    if not scanned.files:
        _step(api, token_env, case, "supplement", body, as_json, wait)
        return
    path = f"/window/cases/{case}/supplement"
    form = scanned.form("supplement", body)
    answer = call(
        api, token_env, "POST", path, form=form, what="补正 …", wait=wait, not_yet=NOT_REACHED
    )
    emit(answer, as_json)


@app.command()
def withdraw(
    case: Case,
    reason: Annotated[str, typer.Option(help="Why the applicant withdraws")],
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Withdraw the case at the applicant's request."""
    _step(api, token_env, case, "withdrawal", {"reason": reason}, as_json, wait)


@app.command()
def deliver(
    case: Case,
    channel: Annotated[
        str,
        typer.Option(help=f"One of: {', '.join(CHANNELS)}", callback=one_of(CHANNELS, "channel")),
    ] = "window",
    tracking_no: Annotated[str | None, typer.Option(help="Courier number (mail)")] = None,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Confirm the result was delivered to the applicant."""
    body = {"channel": channel, "tracking_no": tracking_no}
    _step(api, token_env, case, "delivery", body, as_json, wait)


@app.command()
def show(
    case: Case,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
) -> None:
    """A case's status and steps (statuses by their Chinese names, times in Beijing time)."""
    emit(call(api, token_env, "GET", f"/cases/{case}", what="loading"), as_json)


@app.command("file")
def case_file(
    case: Case,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """The case file (案卷): the applicant, the materials (each one's SHA-256 with --wide), the
    补正 history; times in Beijing time. Each opening is recorded in the region's access log."""
    payload = call(api, token_env, "GET", f"/cases/{case}/file", what="loading")
    emit_case_file(payload, as_json, wide=wide)


@app.command("material")
def material_file(
    case: Case,
    sha256: Annotated[
        str, typer.Argument(help="The material's SHA-256 (the case file shows it with --wide)")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to save the file")],
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
) -> None:
    """Save one material's file (recorded in the region's access log)."""
    path = f"/cases/{case}/materials/{sha256}"
    size = download(api, token_env, path, out, what="downloading")
    typer.echo(f"{out} ({size} bytes)")


@app.command("list")
def list_cases(
    status: Annotated[
        str | None,
        typer.Option(help=status_help("Only cases in this status"), callback=check_status),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
) -> None:
    """This region's cases, newest first (times in Beijing time; --json: UTC, ISO 8601)."""
    params: dict[str, object] = {"limit": limit, "offset": offset}
    if status:
        params["status"] = status
    emit(call(api, token_env, "GET", "/cases", params=params, what="loading"), as_json)
