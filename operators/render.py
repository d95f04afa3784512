"""The terminal view of a case timeline (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from operators.model import CaseTimeline, Entry
from regions.beijing_time import ZONE_LABEL, in_beijing, show
from regions.cli_tables import Col, print_whole, table
from regions.codes import UnknownRegion, region
from regions.labels import LANE_SIDES, outcome_label, shown

_KIND_STYLE = {"step": "bold cyan", "note": "cyan", "sent": "magenta", "accepted": "green"}


def region_name(code: str | None) -> str:
    if code is None:
        return "?"
    try:
        return region(code).name
    except UnknownRegion:
        return code


def _what(entry: Entry) -> Text:
    if entry.kind in ("sent", "accepted"):
        kind = (entry.event_type or "").rsplit(".", 1)[-1]
        return Text(f"{entry.kind} {kind}", style=_KIND_STYLE[entry.kind])
    label = step_label(entry) if entry.kind == "step" else "·"
    style = "bold yellow" if entry.compensation else _KIND_STYLE[entry.kind]
    return Text(label, style=style)


def _detail(entry: Entry) -> Text:
    if entry.kind in ("sent", "accepted"):
        text = Text(f"{entry.sender}→{entry.recipient} ")
        ok = entry.signature == "valid"
        text.append(
            "signature ok" if ok else f"SIGNATURE: {entry.signature}",
            style="green" if ok else "bold red",
        )
        return text
    text = Text(entry.detail)
    if entry.compensation:
        text.append("  [compensation]", style="yellow")
    return text


def step_label(entry: Entry) -> str:
    """`名称 (code)` of the status a step moved to, as its lane's lifecycle names it."""
    return shown(entry.status, LANE_SIDES[entry.lane])


def status_line(timeline: CaseTimeline) -> str:
    """Each lane's current status by name, then the outcome."""
    status = "  ".join(
        f"{lane}: {shown(s, LANE_SIDES[lane])}" for lane, s in timeline.status.items()
    )
    if timeline.outcome:
        name = outcome_label(timeline.outcome)
        status += f"  结果 {f'{name} ({timeline.outcome})' if name else timeline.outcome}"
    return status


def render(timeline: CaseTimeline, console: Console, *, wide: bool = False) -> None:
    a, b = timeline.origin_region, timeline.processing_region
    console.print(
        f"[bold]case {timeline.case_no}[/bold]  item {timeline.item_code or '?'}  "
        f"{f'办理方式 {timeline.mode}  ' if timeline.mode else ''}"
        f"A {a} {region_name(a)} → B {b} {region_name(b)}",
        highlight=False,
    )
    extra = "  [red]已超期 OVERDUE[/red]" if timeline.overdue else ""
    console.print(f"status  {escape(status_line(timeline))}{extra}", highlight=False)
    if timeline.deadline:
        console.print(f"办理时限 {show(timeline.deadline)}", highlight=False)
    for effect in timeline.open_effects:
        console.print(f"[red]未完成的执行事项[/red] {escape(effect)}", highlight=False)
    for leg in timeline.route:
        console.print(f"联办路线 {escape(leg)}", highlight=False, soft_wrap=True)
    for lane, workflow_id in timeline.workflow_ids.items():
        console.print(f"workflow {lane}  {workflow_id}", highlight=False, crop=False)
    console.print(f"trace   {', '.join(timeline.trace_ids) or '(not traced)'}", highlight=False)
    # Times of day in Beijing; the header names the zone and the day the case began.
    day = f" {in_beijing(timeline.entries[0].at):%Y-%m-%d}" if timeline.entries else ""
    columns = (
        Col(f"time ({ZONE_LABEL}{day})", ident=True),
        Col("", wide=True),
        Col("region", ident=True),
        Col("what"),
        Col("detail"),
        Col("经办人"),
        Col("event", ident=True, wide=True),
    )
    start = timeline.entries[0].at if timeline.entries else None
    rows = [
        (
            f"{in_beijing(entry.at):%H:%M:%S.%f}"[:-3],
            f"+{(entry.at - start).total_seconds():.1f}s" if start else "",
            f"{entry.lane} {entry.region}",
            _what(entry),
            _detail(entry),
            entry.actor.label if entry.actor else "",
            entry.event_id or "",
        )
        for entry in timeline.entries
    ]
    options = {"show_edge": False, "pad_edge": False, "box": None}
    print_whole(console, table(columns, rows, wide=wide, **options))
