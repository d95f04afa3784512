"""A self-contained swimlane page for one case: one lane per region, a box per step or
envelope, an arrow for every event that crossed from one region to the other.

Pure HTML + inline SVG + a few lines of inline JS (hover highlighting): no network, no fonts
or scripts fetched, so it opens offline and can be attached to a ticket.
"""

from __future__ import annotations

from html import escape

from operators.model import CaseTimeline, Entry
from operators.render import region_name, status_line, step_label
from regions.beijing_time import ZONE_LABEL, in_beijing, show

_WIDTH, _LANE_W, _GAP, _TOP, _ROW = 1180, 520, 140, 70, 30
_LANE_X = {"A": 10, "B": 10 + _LANE_W + _GAP}
_FILL = {"step": "#dbeafe", "note": "#eef2ff", "sent": "#fae8ff", "accepted": "#dcfce7"}

_CSS = """
body{font-family:"WenQuanYi Zen Hei","Noto Sans CJK SC","PingFang SC",sans-serif;margin:20px;
color:#111827;background:#fff}
h1{font-size:20px;margin:0 0 6px} .meta{font-size:13px;color:#374151;margin:2px 0}
.legend span{display:inline-block;padding:1px 8px;margin-right:6px;border-radius:4px;font-size:12px}
svg text{font-size:12px} .lane-title{font-size:14px;font-weight:bold}
svg text.actor{fill:#1e3a8a;font-weight:bold}
g.entry rect{stroke:#9ca3af} g.entry.comp rect{fill:#fef3c7;stroke:#d97706}
g.entry.bad rect{stroke:#dc2626;stroke-width:2} g.entry.hi rect{stroke:#1d4ed8;stroke-width:2.5}
path.flow{fill:none;stroke:#7c3aed;stroke-width:1.6} path.flow.hi{stroke:#1d4ed8;stroke-width:3}
path.flow.receipt{stroke:#9ca3af;stroke-dasharray:4 3}
table{border-collapse:collapse;font-size:12px;margin-top:16px}
td,th{border-bottom:1px solid #e5e7eb;padding:3px 8px;text-align:left}
"""

# Highlights every box and arrow of the event under the pointer; marks the page rendered.
_JS = """
(function(){
  var items=document.querySelectorAll('[data-event]');
  function mark(id,on){items.forEach(function(el){
    if(el.getAttribute('data-event')===id){el.classList.toggle('hi',on);}});}
  items.forEach(function(el){
    el.addEventListener('mouseenter',function(){mark(el.getAttribute('data-event'),true);});
    el.addEventListener('mouseleave',function(){mark(el.getAttribute('data-event'),false);});
  });
  document.body.setAttribute('data-rendered','ok');
})();
"""


def entry_label(entry: Entry) -> str:
    """What a box (and a table row) says: the step's status, or the envelope and its signature."""
    if entry.kind in ("sent", "accepted"):
        kind = (entry.event_type or "").rsplit(".", 1)[-1]
        sig = "✓" if entry.signature == "valid" else "✗ signature"
        return f"{entry.kind} {kind} {entry.sender}→{entry.recipient} {sig}"
    head = step_label(entry) if entry.kind == "step" else "·"
    return f"{head}  {entry.detail}"


def _clip(text: str, limit: int = 62) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _box(entry: Entry, y: int) -> str:
    x = _LANE_X[entry.lane]
    classes = ["entry"]
    if entry.compensation:
        classes.append("comp")
    if entry.signature not in (None, "valid"):
        classes.append("bad")
    actor = f" — 经办人 {entry.actor.label}" if entry.actor else ""
    tip = f"{show(entry.at, seconds=True)} {entry.region}: {entry_label(entry)}{actor}"
    if entry.event_id:
        tip += f" — event {entry.event_id}"
    data = f' data-event="{escape(entry.event_id)}"' if entry.event_id else ""
    clock = f"{in_beijing(entry.at):%H:%M:%S.%f}"[:-3]
    # A person's or a policy's step names its 经办人 in the box itself, at its right end.
    who = entry.actor.label if entry.actor and entry.actor.kind in ("person", "policy") else ""
    label = _clip(entry_label(entry), 40 if who else 62)
    named = (
        f'<text class="actor" x="{x + _LANE_W - 8}" y="{y + 16}" text-anchor="end">'
        f"{escape(_clip(who, 26))}</text>"
        if who
        else ""
    )
    return (
        f'<g class="{" ".join(classes)}"{data}><title>{escape(tip)}</title>'
        f'<rect x="{x}" y="{y}" width="{_LANE_W}" height="{_ROW - 6}" rx="5" '
        f'fill="{_FILL[entry.kind]}"/>'
        f'<text x="{x + 8}" y="{y + 16}">{escape(clock)}</text>'
        f'<text x="{x + 96}" y="{y + 16}">{escape(label)}</text>{named}</g>'
    )


def _arrows(timeline: CaseTimeline, rows: dict[int, int]) -> list[str]:
    sent = {e.event_id: i for i, e in enumerate(timeline.entries) if e.kind == "sent"}
    out = []
    for i, entry in enumerate(timeline.entries):
        if entry.kind != "accepted" or entry.event_id not in sent:
            continue
        src = timeline.entries[sent[entry.event_id]]
        if src.lane == entry.lane:
            continue
        y1, y2 = rows[sent[entry.event_id]] + 12, rows[i] + 12
        if src.lane == "A":
            x1, x2 = _LANE_X["A"] + _LANE_W, _LANE_X["B"]
        else:
            x1, x2 = _LANE_X["B"], _LANE_X["A"] + _LANE_W
        mid = (x1 + x2) / 2
        receipt = " receipt" if (entry.event_type or "").endswith(".receipt") else ""
        out.append(
            f'<path class="flow{receipt}" data-event="{escape(entry.event_id or "")}" '
            f'd="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" marker-end="url(#arrow)"/>'
        )
    return out


def swimlane_svg(timeline: CaseTimeline) -> str:
    """The lanes, a box per entry and the arrows between regions, as inline SVG with no style
    or script of its own (classes only): this page styles it, and so does the console's."""
    rows = {i: _TOP + i * _ROW for i in range(len(timeline.entries))}
    height = _TOP + len(timeline.entries) * _ROW + 20
    a, b = timeline.origin_region, timeline.processing_region
    lanes = [
        f'<rect x="{_LANE_X["A"] - 5}" y="40" width="{_LANE_W + 10}" height="{height - 40}" '
        'fill="#f9fafb" stroke="#e5e7eb"/>',
        f'<rect x="{_LANE_X["B"] - 5}" y="40" width="{_LANE_W + 10}" height="{height - 40}" '
        'fill="#f9fafb" stroke="#e5e7eb"/>',
        f'<text class="lane-title" x="{_LANE_X["A"]}" y="30">A {escape(a)} '
        f"{escape(region_name(a))} · 收件地 · {escape(timeline.workflow_ids.get('A', ''))}</text>",
        f'<text class="lane-title" x="{_LANE_X["B"]}" y="30">B {escape(b or "?")} '
        f"{escape(region_name(b))} · 办理地 · {escape(timeline.workflow_ids.get('B', ''))}</text>",
    ]
    boxes = [_box(entry, rows[i]) for i, entry in enumerate(timeline.entries)]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="case swimlane">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#7c3aed"/></marker></defs>'
        + "".join(lanes)
        + "".join(_arrows(timeline, rows))
        + "".join(boxes)
        + "</svg>"
    )


def swimlane_html(timeline: CaseTimeline) -> str:
    svg = swimlane_svg(timeline)
    deadline = f" · 办理时限 {escape(show(timeline.deadline))}" if timeline.deadline else ""
    rows_html = "".join(
        f"<tr><td>{in_beijing(e.at):%Y-%m-%d %H:%M:%S.%f}</td><td>{e.lane} {escape(e.region)}</td>"
        f"<td>{escape(entry_label(e))}</td><td>{escape(e.actor.label if e.actor else '')}</td>"
        f"<td>{escape(e.event_id or '')}</td><td>{escape(e.trace_id or '')}</td></tr>"
        for e in timeline.entries
    )
    legend = "".join(
        f'<span style="background:{color}">{name}</span>'
        for name, color in (
            ("workflow step", _FILL["step"]),
            ("note / effect", _FILL["note"]),
            ("envelope sent", _FILL["sent"]),
            ("envelope accepted", _FILL["accepted"]),
            ("compensation", "#fef3c7"),
        )
    )
    route_html = (
        '<ol class="route">'
        + "".join(f"<li>{escape(leg)}</li>" for leg in timeline.route)
        + "</ol>\n"
        if timeline.route
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>case {escape(timeline.case_no)}</title><style>{_CSS}</style></head>
<body>
<h1>case {escape(timeline.case_no)}</h1>
<p class="meta">item {escape(timeline.item_code or "?")} · {escape(status_line(timeline))}{deadline}
{" · <b>已超期 OVERDUE</b>" if timeline.overdue else ""}</p>
<p class="meta">trace {escape(", ".join(timeline.trace_ids) or "(not traced)")}</p>
<p class="legend">{legend}</p>
{route_html}{svg}
<p class="meta">times: {ZONE_LABEL} (UTC+8)</p>
<table><tr><th>time ({ZONE_LABEL})</th><th>region</th><th>what</th><th>经办人</th><th>event</th>
<th>trace</th></tr>{rows_html}</table>
<script>{_JS}</script>
</body></html>
"""
