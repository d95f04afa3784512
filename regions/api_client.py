"""What the clerk and officer CLIs share: calling a node's window API with a bearer token."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from events.models import MaterialRef

ApiOpt = Annotated[
    str, typer.Option("--api", envvar="TONGBAN_API", help="Base URL of the node's window API")
]
TokenEnvOpt = Annotated[
    str,
    typer.Option("--token-env", help="Name of the environment variable holding the token"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON for scripts")]
DEFAULT_API = "http://127.0.0.1:8001"
DEFAULT_TOKEN_ENV = "TONGBAN_TOKEN"
TIMEOUT_S = 60.0  # a step waits for the workflow to apply it; the stack may be busy

err = Console(stderr=True)


def material(spec: str) -> dict[str, Any]:
    """`NAME=PATH` (digest of the file) or `NAME` (digest of the name: no scan at hand)."""
    name, _, path = spec.partition("=")
    content = Path(path).read_bytes() if path else name.encode()
    digest = hashlib.sha256(content).hexdigest()
    ref = MaterialRef(name=name, sha256=digest, ref=f"window://materials/{digest[:12]}")
    return ref.model_dump(mode="json")


def call(
    api: str,
    token_env: str,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    what: str,
) -> Any:
    """One request with a spinner; a refusal prints the API's reason and exits non-zero."""
    token = os.environ.get(token_env)
    if not token:
        err.print(f"[red]no token: set the environment variable {token_env}[/red]")
        raise typer.Exit(2)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with err.status(what), httpx.Client(base_url=api, timeout=TIMEOUT_S) as client:
            response = client.request(method, path, json=body, params=params, headers=headers)
    except httpx.HTTPError as exc:
        err.print(f"[red]cannot reach {api}: {exc}[/red]")
        raise typer.Exit(3) from None
    payload = response.json() if response.content else {}
    if response.status_code >= 400:
        detail = payload.get("detail", response.text) if isinstance(payload, dict) else payload
        rule = payload.get("rule") if isinstance(payload, dict) else None
        suffix = f" [{rule}]" if rule else ""
        # Escaped: "[missing_materials]" is text, not rich markup.
        err.print(escape(f"{response.status_code}{suffix}: {detail}"), style="red")
        raise typer.Exit(1)
    return payload


def emit(payload: Any, as_json: bool, title: str = "") -> None:
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    console = Console()
    if isinstance(payload, dict) and "summary" in payload:
        summary = payload["summary"]
        console.print(f"[bold]{summary['case_no']}[/bold] {summary['status']}  {title}")
        console.print(
            f"item {summary['item_code']} v{summary['item_version']}  "
            f"{summary['origin_region']} → {summary['processing_region']}"
        )
        if payload.get("applicant_name_masked"):
            console.print(f"applicant {payload['applicant_name_masked']}")
        table = Table("at", "region", "status", "detail")
        for step in payload.get("steps", []):
            table.add_row(step["at"], step["region"], step["status"], step.get("detail", ""))
        console.print(table)
    elif isinstance(payload, dict) and "items" in payload:
        table = Table("case", "side", "item", "status", "updated")
        for item in payload["items"]:
            table.add_row(
                item["case_no"], item["side"], item["item_code"], item["status"], item["updated_at"]
            )
        console.print(table)
        console.print(f"{len(payload['items'])} of {payload['total']}")
    elif isinstance(payload, dict):
        console.print(" ".join(f"{k}: {v}" for k, v in payload.items()))


def post_step(
    api: str, token_env: str, side: str, case: str, step: str, body: dict[str, Any], as_json: bool
) -> None:
    """One human step of a case (`side` is "window" or "office"), shown as the API answers."""
    result = call(
        api, token_env, "POST", f"/{side}/cases/{case}/{step}", body=body, what=f"{step} …"
    )
    emit(result, as_json)
