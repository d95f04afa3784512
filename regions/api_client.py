"""What the clerk and officer CLIs share: calling a node's window API with a bearer token.

The API defaults to the token's region's node on this machine (its port from the local
settings, regions/api/ports.py); `--api` or TONGBAN_API overrides. httpx and rich load when a
command calls or prints, not when the CLI starts (issue 24).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from regions.beijing_time import ZONE_LABEL, show_iso
from regions.cli_errors import REFUSED, UNREACHABLE, USAGE, refuse

if TYPE_CHECKING:
    import httpx

ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        envvar="TONGBAN_API",
        help="Base URL of the node's window API (default: the node of the token's region on"
        " this machine)",
        show_default=False,
    ),
]
TokenEnvOpt = Annotated[
    str,
    typer.Option("--token-env", help="Name of the environment variable holding the token"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON for scripts")]
DEFAULT_API: str | None = None  # the token's region's node on this machine
DEFAULT_TOKEN_ENV = "TONGBAN_TOKEN"
TIMEOUT_S = 60.0  # a step waits for the workflow to apply it; the stack may be busy
RETRY_EVERY_S = 0.5  # --wait: how often a node or a case not there yet is asked again
NOT_REACHED = frozenset({404, 409})  # a step the case has not reached (yet) at this node
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        envvar="TONGBAN_WAIT",
        min=0,
        help="Seconds to keep asking while the node is starting or the case has not reached"
        " this step here yet (409; 404 at B before it arrives); 0: answer at once",
    ),
]
_TOKEN_REGION = re.compile(r"^tb_(\d{6})_")  # regions/tokens.py: tb_<region>_<secret>
_ANY_HOST = {"", "0.0.0.0", "::"}


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def local_api(token: str) -> str:
    """The API of the token's region's node on this machine, as the node itself derives its
    port (regions.api.ports.api_port over the local settings: TONGBAN_NODE_* variables, the
    TONGBAN_NODE_CONFIG file, the local stack)."""
    found = _TOKEN_REGION.match(token)
    if found is None:
        refuse("the token names no region (tb_<region>_…): give the API with --api URL", USAGE)
    from pydantic import ValidationError

    from deploy.stack.settings import StackSettings
    from regions.api.ports import api_port
    from regions.local import local_node_settings

    region = found.group(1)
    try:
        settings = local_node_settings(region, StackSettings())
    except ValidationError as exc:
        refuse(
            f"no --api, and {region}'s node settings on this machine are incomplete"
            f" ({exc.error_count()} errors): give the API with --api URL",
            USAGE,
        )
    host = "127.0.0.1" if settings.api_host in _ANY_HOST else settings.api_host
    return f"http://{host}:{api_port(settings)}"


def _token(token_env: str) -> str:
    token = os.environ.get(token_env)
    if not token:
        refuse(f"no token: set the environment variable {token_env}", USAGE)
    return token


@contextmanager
def _client(api: str | None, token: str, what: str) -> Iterator[httpx.Client]:
    """An HTTP client for the API with a spinner on stderr; not reaching it is one line."""
    import httpx
    from rich.console import Console

    base = api or local_api(token)
    try:
        with (
            Console(stderr=True).status(what),
            httpx.Client(
                base_url=base, timeout=TIMEOUT_S, headers={"Authorization": f"Bearer {token}"}
            ) as client,
        ):
            yield client
    except httpx.HTTPError as exc:
        refuse(f"cannot reach {base}: {exc or type(exc).__name__}", UNREACHABLE)


def material(spec: str) -> dict[str, Any]:
    """`NAME` alone: a material declared by its name's digest (no scan at hand)."""
    name, _, _ = spec.partition("=")
    digest = hashlib.sha256(name.encode()).hexdigest()
    from events.models import MaterialRef

    ref = MaterialRef(name=name, sha256=digest, ref=f"window://materials/{digest[:12]}")
    return ref.model_dump(mode="json")


@dataclass(frozen=True)
class Scans:
    """`--material NAME=PATH` files read for upload, `--material NAME` declared ones, and the
    `--original NAME` materials whose originals the clerk checked (核验原件)."""

    declared: list[dict[str, Any]]
    files: list[tuple[str, str, bytes]]  # name, file name, bytes
    originals: list[str]

    def form(self, json_field: str, body: dict[str, Any]) -> Form:
        data: dict[str, Any] = {
            json_field: json.dumps(body, ensure_ascii=False),
            "material_names": [name for name, _, _ in self.files],
        }
        if self.originals:
            data["originals_checked"] = self.originals
        parts = [("material", (filename, content)) for _, filename, content in self.files]
        return Form(data, parts)


@dataclass(frozen=True)
class Form:
    data: dict[str, Any]
    files: list[tuple[str, tuple[str, bytes]]]


def scans(specs: list[str] | None, originals: list[str] | None) -> Scans:
    """Reads each `NAME=PATH` file; one that is missing or unreadable ends the command with a
    one-line error (exit 2), before anything is sent."""
    declared: list[dict[str, Any]] = []
    files: list[tuple[str, str, bytes]] = []
    for spec in specs or []:
        name, _, path = spec.partition("=")
        if not name:
            refuse(f"--material {spec}: give NAME or NAME=FILE", USAGE)
        if not path:
            declared.append(material(name))
            continue
        try:
            content = Path(path).expanduser().read_bytes()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            refuse(f"--material {name}: cannot read {path}: {reason}", USAGE)
        files.append((name, Path(path).name, content))
    with_files = {name for name, _, _ in files}
    for name in originals or []:
        if name not in with_files:
            refuse(f"--original {name}: name a material given as --material {name}=FILE", USAGE)
    return Scans(declared, files, list(originals or []))


def call(
    api: str | None,
    token_env: str,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    form: Form | None = None,
    params: dict[str, Any] | None = None,
    what: str,
    wait: float = 0.0,
    not_yet: frozenset[int] = frozenset(),
) -> Any:
    """One request with a spinner; a refusal prints the API's reason and exits non-zero.

    With `wait` seconds, a node that does not take connections yet (starting) is asked again
    until it does, and so is an answer in `not_yet` (a step the case has not reached: 409, or
    404 at B before the case arrived): each of those was refused, nothing was recorded."""
    token = _token(token_env)
    import httpx

    deadline = time.monotonic() + wait
    with _client(api, token, what) as client:
        while True:
            try:
                if form is not None:
                    response = client.request(
                        method, path, data=form.data, files=form.files, params=params
                    )
                else:
                    response = client.request(method, path, json=body, params=params)
            except httpx.ConnectError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(RETRY_EVERY_S)
                continue
            if response.status_code not in not_yet or time.monotonic() >= deadline:
                break
            time.sleep(RETRY_EVERY_S)
    try:
        payload = response.json() if response.content else {}
    except ValueError:
        payload = response.text
    if response.status_code >= 400:
        detail = payload.get("detail", response.text) if isinstance(payload, dict) else payload
        rule = payload.get("rule") if isinstance(payload, dict) else None
        suffix = f" [{rule}]" if rule else ""
        refuse(f"{response.status_code}{suffix}: {_detail(detail)}", REFUSED)
    return payload


def _detail(detail: Any) -> str:
    """FastAPI's 422 detail is a list of {loc, msg}: each as `field: message`."""
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', ())[1:])}: {d.get('msg', d)}"
            if isinstance(d, dict)
            else str(d)
            for d in detail
        )
    return str(detail)


def named(record: dict[str, Any], field: str = "status") -> str:
    """`名称 (code)` of a code the API answered with its `<field>_label_zh` beside it."""
    code = record.get(field) or ""
    name = record.get(f"{field}_label_zh") or ""
    return f"{name} ({code})" if name and name != code else str(code)


def emit(payload: Any, as_json: bool, title: str = "") -> None:
    """The API's answer as people read it: statuses by their Chinese names (code beside), times
    in Beijing time, case numbers and item codes whole at any width (regions/cli_tables.py).
    `--json` prints the API's JSON unchanged (UTC, ISO 8601 with its offset)."""
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    from regions.cli_tables import Col, console, print_whole, table

    out = console()
    if isinstance(payload, dict) and "summary" in payload:
        summary = payload["summary"]
        head = f"[bold]{summary['case_no']}[/bold] {escape(named(summary))}  {title}"
        out.print(head, highlight=False, overflow="ignore", crop=False)
        out.print(
            escape(
                f"事项 {summary['item_code']} v{summary['item_version']}  "
                f"{summary['origin_region']} → {summary['processing_region']}"
                f"  {summary.get('side_label_zh') or summary['side']}"
            ),
            highlight=False,
        )
        if payload.get("applicant_name_masked"):
            out.print(f"申请人 {escape(payload['applicant_name_masked'])}", highlight=False)
        if payload.get("deadline"):
            deadline = payload.get("deadline_label_zh") or show_iso(payload["deadline"])
            overdue = "  [red]已超期[/red]" if payload.get("overdue") else ""
            out.print(f"办理时限 {escape(deadline)}{overdue}", highlight=False)
        if payload.get("outcome"):
            out.print(f"结果 {escape(named(payload, 'outcome'))}", highlight=False)
        steps = [
            (
                (step.get("at_label_zh") or show_iso(step["at"], seconds=True)).removesuffix(
                    f" ({ZONE_LABEL})"
                ),
                step["region"],
                escape(named(step)),
                escape(step.get("detail", "")),
            )
            for step in payload.get("steps", [])
        ]
        step_columns = (Col(f"时间（{ZONE_LABEL}）"), Col("地区"), Col("状态"), Col("说明"))
        print_whole(out, table(step_columns, steps))
    elif isinstance(payload, dict) and "items" in payload:
        rows = [
            (
                item["case_no"],
                item.get("side_label_zh") or item["side"],
                item["item_code"],
                escape(named(item)),
                (item.get("updated_at_label_zh") or show_iso(item["updated_at"])).removesuffix(
                    f" ({ZONE_LABEL})"
                ),
            )
            for item in payload["items"]
        ]
        columns = (
            Col("案件编号", ident=True),
            Col("本地角色"),
            Col("事项", ident=True),
            Col("状态"),
            Col(f"更新（{ZONE_LABEL}）"),
        )
        print_whole(out, table(columns, rows))
        out.print(f"{len(payload['items'])} / {payload['total']}")
    elif isinstance(payload, dict) and "status" in payload and "case_no" in payload:
        out.print(f"{payload['case_no']} {escape(named(payload))}", highlight=False, crop=False)
    elif isinstance(payload, dict):
        out.print(" ".join(f"{k}: {v}" for k, v in payload.items()), crop=False)


def post_step(
    api: str | None,
    token_env: str,
    side: str,
    case: str,
    step: str,
    body: dict[str, Any],
    as_json: bool,
    wait: float = 0.0,
) -> None:
    """One human step of a case (`side` is "window" or "office"), shown as the API answers."""
    result = call(
        api,
        token_env,
        "POST",
        f"/{side}/cases/{case}/{step}",
        body=body,
        what=f"{step} …",
        wait=wait,
        not_yet=NOT_REACHED,
    )
    emit(result, as_json)


def emit_case_file(payload: dict[str, Any], as_json: bool, *, wide: bool = False) -> None:
    """The case file (案卷) as `GET /cases/{no}/file` gives it: who applied, what was handed in,
    the 补正 history. Material names whole at any width; their SHA-256 (what `material` takes),
    size and type with --wide. Personal data: printed for the person who asked, never logged."""
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    from regions.cli_tables import Col, console, print_whole, table
    from regions.labels import shown  # the lifecycle's names; loaded only to show a case file

    out = console()
    item = f"{payload['item_code']} v{payload['item_version']}"
    if payload.get("item_name"):
        item += f" {payload['item_name']}"
    status = shown(payload["status"], payload.get("side"))
    out.print(f"[bold]{payload['case_no']}[/bold] {escape(status)}  案卷", highlight=False)
    out.print(escape(f"事项 {item}  {payload['origin_region']} → {payload['processing_region']}"))
    applicant = payload.get("applicant")
    if applicant:
        lines = [
            f"申请人 {applicant['name']}  证件号码 {applicant['id_number']}",
            f"电话 {applicant['phone']}  地址 {applicant['address'] or '—'}",
        ]
        if applicant.get("credit_code"):
            lines.append(f"统一社会信用代码 {applicant['credit_code']}")
        for line in lines:
            out.print(escape(line))
    else:
        out.print(escape(f"申请人 未能打开: {payload.get('applicant_unavailable') or '—'}"))
    materials = []
    for m in payload.get("materials", []):
        checked = m.get("originals_checked")
        state = "已齐" if m["complete"] else ("传输中" if m["has_file"] else "仅登记")
        materials.append(
            (
                escape(m["name"]),
                state,
                escape(f"{checked['by']} {show_iso(checked['at'])}") if checked else "",
                m["sha256"],
                str(m["size"]) if m.get("size") is not None else "",
                m.get("media_type") or "",
            )
        )
    columns = (
        Col("材料", ident=True),
        Col("文件"),
        Col(f"核验原件（{ZONE_LABEL}）"),
        Col("SHA-256", ident=True, wide=True),
        Col("大小", wide=True),
        Col("类型", wide=True),
    )
    print_whole(out, table(columns, materials, wide=wide))
    supplements = payload.get("supplements", [])
    if supplements:
        history = [
            (
                s.get("kind_label_zh") or s["kind"],
                show_iso(s["at"], seconds=True).removesuffix(f" ({ZONE_LABEL})"),
                s["region"],
                escape(named(s)),
                escape(s["detail"]),
                escape(s.get("by") or ""),
            )
            for s in supplements
        ]
        history_columns = (
            Col("补正"),
            Col(f"时间（{ZONE_LABEL}）"),
            Col("地区"),
            Col("状态"),
            Col("内容"),
            Col("经办人"),
        )
        print_whole(out, table(history_columns, history, wide=wide))
    elif not payload.get("supplements_known", True):
        out.print("补正记录: 办件流程暂不可读")


def download(api: str | None, token_env: str, path: str, out: Path, *, what: str) -> int:
    """A file from the API into `out`; a refusal prints the API's reason and exits non-zero."""
    token = _token(token_env)
    with _client(api, token, what) as client:
        response = client.get(path)
    if response.status_code >= 400:
        refuse(f"{response.status_code}: {response.text[:300]}", REFUSED)
    try:
        out.write_bytes(response.content)
    except OSError as exc:
        refuse(f"cannot write {out}: {exc.strerror or type(exc).__name__}", USAGE)
    return len(response.content)
