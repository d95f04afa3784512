"""The terminal view of a case timeline (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from operators.model import CaseTimeline, Entry
from regions.codes import UnknownRegion, region

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
    label = entry.status if entry.kind == "step" else "·"
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


def render(timeline: CaseTimeline, console: Console) -> None:
    a, b = timeline.origin_region, timeline.processing_region
    console.print(
        f"[bold]case {timeline.case_no}[/bold]  item {timeline.item_code or '?'}  "
        f"A {a} {region_name(a)} → B {b} {region_name(b)}",
        highlight=False,
    )
    status = "  ".join(f"{lane}: {s}" for lane, s in timeline.status.items())
    extra = f"  outcome {timeline.outcome}" if timeline.outcome else ""
    extra += "  [red]OVERDUE[/red]" if timeline.overdue else ""
    console.print(f"status  {status}{extra}", highlight=False)
    for lane, workflow_id in timeline.workflow_ids.items():
        console.print(f"workflow {lane}  {workflow_id}", highlight=False)
    console.print(f"trace   {', '.join(timeline.trace_ids) or '(not traced)'}", highlight=False)
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("time (UTC)", "", "region", "what", "detail", "经办人", "event"):
        table.add_column(column, overflow="fold")
    start = timeline.entries[0].at if timeline.entries else None
    for entry in timeline.entries:
        offset = f"+{(entry.at - start).total_seconds():.1f}s" if start else ""
        table.add_row(
            f"{entry.at:%H:%M:%S.%f}"[:-3],
            offset,
            f"{entry.lane} {entry.region}",
            _what(entry),
            _detail(entry),
            entry.actor.label if entry.actor else "",
            (entry.event_id or "")[:8],
        )
    console.print(table)
