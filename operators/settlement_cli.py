"""`tongban settlement report`: what an accepting region owes a processing region for the fees it
collected on that region's items (代收) on one Beijing business day, after refunds, from a
region's own settlement ledger (decision 0030); `--reconcile` compares both regions' ledgers
and names every case where they differ."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from events.stores.settlement import BEIJING, KIND_LABELS, SettlementEntry

app = typer.Typer(
    no_args_is_help=True,
    help="代收结算: fees an accepting region collected for a processing region's items.",
)


@app.callback()
def settlement() -> None:
    """代收结算: what a collecting region owes a processing region, day by day."""


AGREE, DIFFER, UNREAD = 0, 1, 2
_SHORT_TYPES = {
    "cn.tongban.case.forwarded": ("forwarded", "origin"),
    "cn.tongban.case.decided": ("denied", "processing"),  # only a denial books
    "cn.tongban.case.not-accepted": ("not-accepted", "processing"),
    "cn.tongban.case.cancelled": ("cancelled", "processing"),
}


def yuan(fen: int) -> str:
    """Fen as 元 with two decimals, by integer arithmetic."""
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{whole}.{cents:02d}"


def _region_name(code: str) -> str:
    from regions.codes import UnknownRegion, region

    try:
        return f"{code} {region(code).name}"
    except UnknownRegion:
        return code


def _event_label(event_type: str) -> str:
    from regions.labels import status_label

    found = _SHORT_TYPES.get(event_type)
    if found is None:
        return event_type
    code, side = found
    return status_label(code, "origin" if side == "origin" else "processing")


def parse_pair(text: str) -> tuple[str, str]:
    origin, sep, processing = text.partition(":")
    if not sep or not (origin.isdigit() and processing.isdigit()):
        raise typer.BadParameter(
            "A:B, two GB/T 2260 codes, e.g. 350000:440000", param_hint="--pair"
        )
    if len(origin) != 6 or len(processing) != 6 or origin == processing:
        raise typer.BadParameter("two different 6-digit region codes", param_hint="--pair")
    return origin, processing


def parse_day(text: str | None) -> date:
    if text is None:
        return datetime.now(BEIJING).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("a Beijing calendar day, YYYY-MM-DD", param_hint="--day") from None


@dataclass(frozen=True)
class DayReport:
    origin: str
    processing: str
    day: date
    ledger_region: str
    entries: tuple[SettlementEntry, ...]

    @property
    def collected_fen(self) -> int:
        return sum(e.amount_fen for e in self.entries if e.kind == "collected")

    @property
    def refunded_fen(self) -> int:
        return sum(e.amount_fen for e in self.entries if e.kind == "refunded")

    @property
    def net_fen(self) -> int:
        return self.collected_fen + self.refunded_fen

    def as_json(self) -> dict[str, Any]:
        return {
            "origin_region": self.origin,
            "processing_region": self.processing,
            "business_day": self.day.isoformat(),
            "ledger_region": self.ledger_region,
            "collected_fen": self.collected_fen,
            "refunded_fen": self.refunded_fen,
            "net_fen": self.net_fen,
            "net_yuan": yuan(self.net_fen),
            "lines": [
                {
                    "case_no": e.case_no,
                    "kind": e.kind,
                    "kind_label_zh": KIND_LABELS[e.kind],
                    "amount_fen": e.amount_fen,
                    "amount_yuan": yuan(e.amount_fen),
                    "event_id": e.event_id,
                    "event_type": e.event_type,
                    "event_time": e.event_time.isoformat(),
                }
                for e in self.entries
            ],
        }

    def lines(self) -> list[str]:
        shown = [
            f"代收结算  {_region_name(self.origin)}（收件地）→ {_region_name(self.processing)}"
            f"（办理地）  业务日 {self.day.isoformat()}（北京时间）"
            f"  账本：{_region_name(self.ledger_region)}",
            "案件编号                  类别  金额（元）  事件时间（北京时间）  事件",
        ]
        for e in self.entries:
            at = e.event_time.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
            shown.append(
                f"{e.case_no}  {KIND_LABELS[e.kind]}  {yuan(e.amount_fen):>10}"
                f"  {at}   {_event_label(e.event_type)}"
            )
        if not self.entries:
            shown.append("（当日无代收、退费）")
        shown += [
            f"代收合计（元）  {yuan(self.collected_fen)}",
            f"退费合计（元）  {yuan(self.refunded_fen)}",
            f"应结净额（元）  {yuan(self.net_fen)}"
            f"  （{_region_name(self.origin)} 应付 {_region_name(self.processing)}）",
        ]
        return shown


@dataclass(frozen=True)
class CaseDifference:
    case_no: str
    problems: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"case_no": self.case_no, "problems": list(self.problems)}


def reconcile(
    origin: str,
    processing: str,
    of_origin: list[SettlementEntry],
    of_processing: list[SettlementEntry],
) -> list[CaseDifference]:
    """Every case whose entries differ between the two ledgers, by case number: an entry
    one side lacks, or one of another amount, kind or event."""
    mine = {(e.case_no, e.kind): e for e in of_origin}
    theirs = {(e.case_no, e.kind): e for e in of_processing}
    problems: dict[str, list[str]] = {}
    for key in sorted(mine.keys() | theirs.keys()):
        case_no, kind = key
        a, b = mine.get(key), theirs.get(key)
        label = KIND_LABELS.get(kind, kind)
        if a is None or b is None:
            held, lacking = (origin, processing) if b is None else (processing, origin)
            amount = (a or b).amount_fen  # type: ignore[union-attr]
            problems.setdefault(case_no, []).append(
                f"{label} {yuan(amount)} 元仅见于 {held} 的账本，{lacking} 的账本没有"
            )
            continue
        if a.amount_fen != b.amount_fen:
            problems.setdefault(case_no, []).append(
                f"{label}金额不一致：{origin} {yuan(a.amount_fen)} 元，"
                f"{processing} {yuan(b.amount_fen)} 元"
            )
        if a.event_id != b.event_id or a.event_time != b.event_time:
            problems.setdefault(case_no, []).append(
                f"{label}所据事件不一致：{origin} {a.event_id}，{processing} {b.event_id}"
            )
    return [CaseDifference(n, tuple(p)) for n, p in sorted(problems.items())]


def _dsns(regions: tuple[str, ...], endpoints: Path | None) -> dict[str, str]:
    """Each region's database: from the operators' endpoints file, else the node settings
    (`TONGBAN_NODE_*`, then the local stack), as `tongban audit verify` finds them."""
    if endpoints is not None:
        from operators.endpoints import endpoints_from_file

        config = endpoints_from_file(endpoints)
        return {r: config.for_region(r).postgres_dsn for r in regions}
    from deploy.stack.settings import StackSettings
    from regions.local import local_node_settings

    stack = StackSettings()
    return {r: local_node_settings(r, stack).postgres_dsn.get_secret_value() for r in regions}


async def read_day(dsn: str, origin: str, processing: str, day: date) -> list[SettlementEntry]:
    import asyncpg

    from events.stores.settlement_postgres import PostgresSettlementLedger

    conn = await asyncpg.connect(dsn)
    try:
        return await PostgresSettlementLedger(conn).entries_of_day(origin, processing, day)
    finally:
        await conn.close()


async def _report(
    origin: str, processing: str, day: date, region: str, endpoints: Path | None, as_json: bool
) -> int:
    dsn = _dsns((region,), endpoints)[region]
    entries = await read_day(dsn, origin, processing, day)
    found = DayReport(origin, processing, day, region, tuple(entries))
    if as_json:
        typer.echo(json.dumps(found.as_json(), ensure_ascii=False, indent=2))
    else:
        for line in found.lines():
            typer.echo(line)
    return AGREE


async def _reconcile(
    origin: str, processing: str, day: date, endpoints: Path | None, as_json: bool
) -> int:
    import asyncpg

    dsns = _dsns((origin, processing), endpoints)
    ledgers: dict[str, list[SettlementEntry]] = {}
    unread: list[str] = []
    for region in (origin, processing):
        try:
            ledgers[region] = await read_day(dsns[region], origin, processing, day)
        except (OSError, asyncpg.PostgresError) as exc:
            unread.append(f"{region} ({type(exc).__name__})")
    if unread:
        typer.echo(f"error: ledgers not read: {', '.join(unread)}", err=True)
        return UNREAD
    differences = reconcile(origin, processing, ledgers[origin], ledgers[processing])
    if as_json:
        body = {
            "origin_region": origin,
            "processing_region": processing,
            "business_day": day.isoformat(),
            "entries": {region: len(found) for region, found in ledgers.items()},
            "agree": not differences,
            "differences": [d.as_json() for d in differences],
        }
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        head = (
            f"对账  {_region_name(origin)} ↔ {_region_name(processing)}  业务日 {day.isoformat()}"
        )
        if not differences:
            counts = "，".join(f"{r} {len(found)} 笔" for r, found in ledgers.items())
            typer.echo(f"{head}：一致（{counts}）")
        else:
            typer.echo(f"{head}：{len(differences)} 件不一致")
            typer.echo("案件编号                  差异")
            for found in differences:
                for problem in found.problems:
                    typer.echo(f"{found.case_no}  {problem}")
    return DIFFER if differences else AGREE


@app.command("report")
def report(
    pair: Annotated[
        str,
        typer.Option(
            "--pair",
            help="收件地:办理地, the region that collects and the one it owes: 350000:440000",
        ),
    ],
    day: Annotated[
        str | None,
        typer.Option("--day", help="The business day in Beijing time, YYYY-MM-DD (default today)"),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="Whose ledger to read (default the collecting region)"),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--reconcile",
            help="Compare both regions' ledgers and name every case where they differ",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    endpoints: Annotated[
        Path | None,
        typer.Option(
            "--endpoints",
            help="JSON file naming each region's Postgres (default: the node settings and the"
            " local stack)",
        ),
    ] = None,
) -> None:
    """What the collecting region owes the processing region for the day after refunds, case
    by case, in 元. With --reconcile: exit 0 when both ledgers agree, 1 when any case differs
    (each named), 2 when a ledger could not be read."""
    origin, processing = parse_pair(pair)
    on_day = parse_day(day)
    if check:
        raise typer.Exit(asyncio.run(_reconcile(origin, processing, on_day, endpoints, as_json)))
    reader = region or origin
    if reader not in (origin, processing):
        raise typer.BadParameter("one of the pair's two regions", param_hint="--region")
    raise typer.Exit(asyncio.run(_report(origin, processing, on_day, reader, endpoints, as_json)))
