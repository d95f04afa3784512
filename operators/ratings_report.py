"""好差评 report (decision 0039): a region's ratings over a period, counted by level, by item,
by window and by side (收件地 A / 办理地 B), and how its 差评 were handled.

Pure: rows in, counts out. A rating set aside on appeal (申诉复核) counts only as set aside,
never in the levels. Free text (comments, answers) is not read: the report holds none.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from events.ratings import (
    BAD_LEVELS,
    CHANNEL_LABELS,
    LEVEL_LABELS,
    REASONS,
    STEP_LABELS,
    Level,
    RatedStep,
)
from events.stores.ratings import RatingRow
from regions.beijing_time import BEIJING

SIDE_LABELS = {"A": "收件地", "B": "办理地"}


def period_bounds(since: date, until: date) -> tuple[datetime, datetime]:
    """[start, end) of the Beijing days `since` … `until` (inclusive), as aware times."""
    start = datetime.combine(since, time(0), BEIJING)
    return start, datetime.combine(until + timedelta(days=1), time(0), BEIJING)


_LEVELS = tuple(Level)  # 5 … 1


def _fit(text: str, width: int, *, right: bool = False) -> str:
    """`text` padded to `width` terminal cells (a Chinese character takes two)."""
    from rich.cells import cell_len

    gap = " " * max(width - cell_len(text), 0)
    return gap + text if right else text + gap


def _by_level(rows: list[RatingRow]) -> dict[str, int]:
    counted = Counter(Level(r.level) for r in rows)
    return {LEVEL_LABELS[level]: counted[level] for level in _LEVELS}


@dataclass(frozen=True)
class BadHandling:
    """差评: answered within both deadlines, answered late, still open (of which overdue)."""

    total: int = 0
    on_time: int = 0
    late: int = 0
    open: int = 0
    overdue: int = 0
    escalated: int = 0

    @property
    def on_time_rate(self) -> float | None:
        answered = self.on_time + self.late
        return None if answered == 0 else self.on_time / answered


def _bad_handling(rows: list[RatingRow], now: datetime) -> BadHandling:
    bad = [r for r in rows if Level(r.level) in BAD_LEVELS]
    open_ = [r for r in bad if r.answered_at is None]
    return BadHandling(
        total=len(bad),
        on_time=sum(1 for r in bad if r.answered_on_time is True),
        late=sum(1 for r in bad if r.answered_on_time is False),
        open=len(open_),
        overdue=sum(1 for r in open_ if r.rectify_due is not None and r.rectify_due < now),
        escalated=sum(1 for r in bad if r.escalations),
    )


@dataclass(frozen=True)
class RatingsReport:
    region: str
    since: date
    until: date  # inclusive, Beijing days
    total: int
    by_level: dict[str, int]
    by_item: dict[str, dict[str, int]]
    by_window: dict[str, dict[str, int]]
    by_side: dict[str, dict[str, int]]
    set_aside: int
    bad: BadHandling = field(default_factory=BadHandling)
    # 邀评 this region ordered in the period, by the state of their effect order (done: sent).
    invitations: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        region: str,
        since: date,
        until: date,
        rows: list[RatingRow],
        now: datetime,
        invitations: dict[str, int] | None = None,
    ) -> RatingsReport:
        counted = [r for r in rows if r.set_aside_at is None]

        def grouped(key: str) -> dict[str, dict[str, int]]:
            groups: dict[str, list[RatingRow]] = {}
            for row in counted:
                groups.setdefault(str(getattr(row, key)), []).append(row)
            return {name: _by_level(found) for name, found in sorted(groups.items())}

        return cls(
            region=region,
            since=since,
            until=until,
            total=len(counted),
            by_level=_by_level(counted),
            by_item=grouped("item_code"),
            by_window=grouped("window_name"),
            by_side={SIDE_LABELS[s]: levels for s, levels in grouped("side").items()},
            set_aside=len(rows) - len(counted),
            bad=_bad_handling(counted, now),
            invitations=dict(invitations or {}),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "from": self.since.isoformat(),
            "to": self.until.isoformat(),
            "levels": [LEVEL_LABELS[level] for level in _LEVELS],
            "total": self.total,
            "by_level": self.by_level,
            "by_item": self.by_item,
            "by_window": self.by_window,
            "by_side": self.by_side,
            "set_aside": self.set_aside,
            "bad": {
                "total": self.bad.total,
                "answered_on_time": self.bad.on_time,
                "answered_late": self.bad.late,
                "open": self.bad.open,
                "open_overdue": self.bad.overdue,
                "escalated": self.bad.escalated,
                "on_time_rate": self.bad.on_time_rate,
            },
            "invitations": {
                "ordered": sum(self.invitations.values()),
                "by_state": self.invitations,
            },
        }

    @property
    def invitation_summary(self) -> str:
        def of(*states: str) -> int:
            return sum(self.invitations.get(s, 0) for s in states)

        return (
            f"邀评 {sum(self.invitations.values())} 件：已发送 {of('done', 'resolved')}，"
            f"未能发送 {of('refused', 'dead')}，待发送 {of('ordered', 'pending')}"
        )

    def lines(self) -> list[str]:
        def row(name: str, counts: dict[str, int]) -> str:
            return _fit(name, 24) + "".join(_fit(str(n), 12, right=True) for n in counts.values())

        shown = [
            f"好差评  {self.region}  {self.since.isoformat()} 至 {self.until.isoformat()}"
            f"（北京时间）  评价 {self.total} 件，申诉复核撤销 {self.set_aside} 件",
            _fit("", 24) + "".join(_fit(label, 12, right=True) for label in self.by_level),
            row("合计", self.by_level),
        ]
        for title, groups in (
            ("按事项", self.by_item),
            ("按窗口", self.by_window),
            ("按承担方（谁办理谁负责）", self.by_side),
        ):
            shown.append(title)
            shown += [row(f"  {name}", levels) for name, levels in groups.items()]
        rate = self.bad.on_time_rate
        shown.append(
            f"差评 {self.bad.total} 件：按时整改答复 {self.bad.on_time}，超时答复 {self.bad.late}，"
            f"办理中 {self.bad.open}（已超期 {self.bad.overdue}），曾升级 {self.bad.escalated}"
            + ("" if rate is None else f"；按时率 {rate:.1%}")
        )
        if self.invitations:  # none ordered in the period (or none read: the month's bench)
            shown.append(self.invitation_summary)
        return shown


EXPORT_FORMAT = "tongban.ratings.daily/1"


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _exported(row: RatingRow) -> dict[str, Any]:
    step = RatedStep(row.step)
    level = Level(row.level)
    follow_up = None
    if level in BAD_LEVELS:
        follow_up = {
            "revisit_due": _iso(row.revisit_due),
            "revisited_at": _iso(row.revisited_at),
            "rectify_due": _iso(row.rectify_due),
            "rectified_at": _iso(row.rectified_at),
            "escalations": list(row.escalations),
            "answered_at": _iso(row.answered_at),
            "answered_on_time": row.answered_on_time,
        }
    return {
        "rating_id": row.rating_id,
        "case_no": row.case_no,
        "item_code": row.item_code,
        "step": step.value,
        "step_label": STEP_LABELS[step],
        "level": int(level),
        "level_label": LEVEL_LABELS[level],
        "reasons": [
            {"code": code, "label": REASONS[row.channel].get(code, code)} for code in row.reasons
        ],
        "channel": row.channel,
        "channel_label": CHANNEL_LABELS[row.channel],
        "window": row.window_name,
        "side": row.side,
        "responsible_region": row.responsible_region,
        "origin_region": row.origin_region,
        "processing_region": row.processing_region,
        "rated_at": _iso(row.rated_at),
        "bad": level in BAD_LEVELS,
        "follow_up": follow_up,
        "set_aside_at": _iso(row.set_aside_at),
    }


def daily_export(region: str, day: date, rows: list[RatingRow], now: datetime) -> dict[str, Any]:
    """The day's ratings `region` answers for, for the provincial 好差评 system, in the format
    docs/ratings-export.md describes. No free text: comments, notes and answers stay sealed."""
    return {
        "format": EXPORT_FORMAT,
        "region": region,
        "business_day": day.isoformat(),
        "generated_at": _iso(now),
        "count": len(rows),
        "ratings": [_exported(r) for r in rows],
    }
