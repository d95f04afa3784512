"""`tongban case show | list | access`: where is this case, who holds it, why, and who opened
its personal data or files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from operators.output import emit
from regions.api_client import (
    DEFAULT_API,
    DEFAULT_TOKEN_ENV,
    ApiOpt,
    JsonOpt,
    TokenEnvOpt,
    call,
    download,
)
from regions.beijing_time import ZONE_LABEL, show_iso
from regions.cli_errors import UsageProblem
from regions.cli_filters import (
    PERSON_TIME_HELP,
    check_status,
    known_region,
    known_regions,
    parsed_time,
    person_time,
    status_help,
)
from regions.cli_tables import Col, WideOpt, console, print_whole, table

if TYPE_CHECKING:
    from operators.endpoints import OperatorEndpoints

app = typer.Typer(
    no_args_is_help=True,
    help="Operators: one case's timeline, case search, and who opened a case's data.",
)

EndpointsFile = Annotated[
    Path | None,
    typer.Option(
        "--endpoints",
        help="JSON file naming each region's Temporal and Postgres (default: the local stack)",
    ),
]


def _endpoints(path: Path | None) -> OperatorEndpoints:
    from deploy.stack.settings import StackSettings
    from operators.endpoints import endpoints_from_file, local_endpoints

    return endpoints_from_file(path) if path else local_endpoints(StackSettings())


@app.command("show")
def show(
    case_no: str,
    as_json: Annotated[bool, typer.Option("--json", help="The timeline as JSON")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Write a swimlane page")] = None,
    endpoints: EndpointsFile = None,
    wide: WideOpt = False,
) -> None:
    """The case's timeline across both regions: steps, envelopes (signature checked), actors;
    times in Beijing time (北京时间), --json in UTC (ISO 8601). --wide adds each line's offset
    from the first and the full event id."""
    from operators.html import swimlane_html
    from operators.load import CaseNotFound, load_timeline
    from operators.render import render

    config = _endpoints(endpoints)
    try:
        timeline = asyncio.run(load_timeline(case_no, config))
    except (CaseNotFound, LookupError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if html is not None:
        html.write_text(swimlane_html(timeline), encoding="utf-8")
    if as_json:
        typer.echo(timeline.model_dump_json(indent=2))
    else:
        render(timeline, console(), wide=wide)
        if html is not None:
            typer.echo(f"swimlane page: {html}")


@app.command("statuses")
def statuses(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every status a case can show, its code and its Chinese name on each side (A 收件地, B
    办理地), from the lifecycle model: what `--status` accepts."""
    from regions.labels import SIDE_LABELS, SIDES, status_labels

    names = {side: status_labels(side) for side in SIDES}
    codes = list(dict.fromkeys(code for side in SIDES for code in names[side]))
    if as_json:
        rows = [{"code": c, **{s: names[s].get(c) for s in SIDES}} for c in codes]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    columns = (Col("status", ident=True), *(Col(f"{SIDE_LABELS[s]} ({s})") for s in SIDES))
    named = [(code, *(names[s].get(code, "") for s in SIDES)) for code in codes]
    print_whole(console(), table(columns, named))


@app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option(help=status_help("Only cases in this status"), callback=check_status),
    ] = None,
    origin: Annotated[
        str | None, typer.Option(help="accepting region code", callback=known_region)
    ] = None,
    processing: Annotated[
        str | None, typer.Option(help="processing region code", callback=known_region)
    ] = None,
    item: Annotated[str | None, typer.Option(help="item code")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="started at or after" + PERSON_TIME_HELP, callback=person_time),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="started before" + PERSON_TIME_HELP, callback=person_time)
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="deadline breached")] = False,
    stuck: Annotated[
        float | None, typer.Option(help="open with no progress for this many hours")
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(help="regions to search (default: all configured)", callback=known_regions),
    ] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    endpoints: EndpointsFile = None,
    wide: WideOpt = False,
) -> None:
    """Cases by status, region, item, date, overdue or stuck; one row per region's workflow.
    Times shown are Beijing time (北京时间); --json gives them in UTC (ISO 8601 with its
    offset). --wide adds the region pair and the last change."""
    from operators.listing import CaseFilter, list_cases
    from regions.beijing_time import in_beijing
    from regions.labels import resolve_status, shown

    wanted = resolve_status(status) if status is not None else None
    config = _endpoints(endpoints)
    case_filter = CaseFilter(
        status=wanted.code if wanted else None,
        origin=origin,
        processing=processing,
        item=item,
        since=parsed_time(since),
        until=parsed_time(until),
        overdue=overdue,
        stuck_hours=stuck,
        sides=wanted.sides if wanted else (),
    )
    unconfigured = [code for code in region or [] if code not in config.regions]
    if unconfigured:
        raise UsageProblem(
            f"--region {', '.join(unconfigured)}: no endpoints configured for it; one of:"
            f" {', '.join(config.regions)}"
        )
    targets = [config.for_region(code) for code in (region or list(config.regions))]
    try:
        rows = asyncio.run(list_cases(targets, case_filter, page=page, page_size=page_size))
    except (LookupError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    columns = (
        Col("case", ident=True),
        Col("region"),
        Col("status"),
        Col("item", ident=True),
        Col(f"deadline ({ZONE_LABEL})"),
        Col("overdue"),
        Col("A→B", wide=True),
        Col(f"changed ({ZONE_LABEL})", wide=True),
    )
    cells = [
        (
            r.case_no,
            r.region,
            shown(r.status, r.side),
            r.item_code or "",
            f"{in_beijing(r.deadline):%Y-%m-%d %H:%M}" if r.deadline else "",
            "已超期" if r.overdue else "",
            f"{r.origin_region}→{r.processing_region}",
            f"{in_beijing(r.last_change):%Y-%m-%d %H:%M:%S}" if r.last_change else "",
        )
        for r in rows
    ]
    print_whole(console(), table(columns, cells, wide=wide))
    typer.echo(f"page {page}: {len(rows)} rows; times in {ZONE_LABEL} (UTC+08:00)")


@app.command("access")
def access(
    case_no: str,
    region: Annotated[
        list[str] | None,
        typer.Option(help="regions to read (default: all configured)", callback=known_regions),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    endpoints: EndpointsFile = None,
) -> None:
    """Who opened the case's personal data or files, when (Beijing time; --json: UTC, ISO 8601)
    and through what (the access log of each region, oldest first). The log holds field names
    and digests, never the data."""
    import asyncpg

    from regions.access_log import AccessEntry, PostgresAccessLog, merged

    config = _endpoints(endpoints)

    async def read() -> list[AccessEntry]:
        found: list[AccessEntry] = []
        for code in region or list(config.regions):
            conn = await asyncpg.connect(config.for_region(code).postgres_dsn)
            try:
                found += await PostgresAccessLog(conn).of_case(case_no)
            finally:
                await conn.close()
        return merged(found)

    try:
        entries = asyncio.run(read())
    except (LookupError, ValueError, OSError, asyncpg.PostgresError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc

    def line(record: dict[str, Any]) -> str:
        opened = (
            f"申请人 {','.join(record['fields']) or '（未能打开）'}"
            if record["what"] == "case-file"
            else f"文件 {record['material_sha256']}"
        )
        who = (
            f"{record['person_name']}（工号 {record['person_id']}，{record['window']}）"
            if record["person_id"]
            else f"未登记经办人（{record['window']}）"
        )
        return (
            f"{show_iso(record['at'], seconds=True)}  {record['region']}  {who}"
            f" [{record['role']}, token {record['token_id']}]  {opened}  via {record['route']}"
        )

    emit(
        [e.as_json() for e in entries],
        as_json=as_json,
        empty=f"no opening of case {case_no} recorded",
        line=line,
    )


@app.command("documents")
def documents(
    case_no: Annotated[str, typer.Argument(help="Case number, e.g. 350000-20261127-KWGDXZFB")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Save every document here as <number>.pdf (else list them)"),
    ] = None,
    api: ApiOpt = DEFAULT_API,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    as_json: JsonOpt = False,
) -> None:
    """The case's signed documents (受理通知书, 决定书, 收件凭证 ...) through the region's API,
    with a clerk's (A) or officer's (B) token: listed, or saved with --out (each opening of a
    document is recorded in the region's access log). `tongban documents verify FILE.pdf`
    checks one."""
    listed = call(api, token_env, "GET", f"/cases/{case_no}/documents", what="loading")
    if out is None:
        emit(
            listed,
            as_json=as_json,
            empty=f"no documents of {case_no} here yet",
            line=lambda d: (
                f"{d['number']}  {d['title']}  {d['issuing_region']}"
                f"  {show_iso(d['issued_at'])}  {'' if d['here'] else '(arriving)'}"
            ),
        )
        return
    out.mkdir(parents=True, exist_ok=True)
    for entry in listed:
        if not entry["here"]:
            typer.echo(f"{entry['number']} {entry['title']}: not arrived whole yet")
            continue
        target = out / f"{entry['number']}.pdf"
        path = f"/cases/{case_no}/documents/{entry['number']}"
        size = download(api, token_env, path, target, what=f"saving {entry['number']}")
        typer.echo(f"{target} {entry['title']} ({size} bytes)")
