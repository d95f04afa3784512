"""Times as people read them: China Standard Time (北京时间, UTC+8, no daylight saving).

Stored and wire timestamps stay aware UTC datetimes; only what is shown to a person, and the
date in a case number, is Beijing time. Every time shown says its zone.
"""

from __future__ import annotations

from datetime import date, datetime

from workflows.deadlines import CST

BEIJING = CST
ZONE_LABEL = "北京时间"


class NaiveTime(ValueError):
    """A datetime without a zone where one is needed to know which instant it is."""


def in_beijing(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise NaiveTime(f"{at.isoformat()} has no time zone")
    return at.astimezone(BEIJING)


def beijing_date(at: datetime) -> date:
    """The calendar day in Beijing of an instant (the day a case number carries)."""
    return in_beijing(at).date()


def show(at: datetime | None, *, seconds: bool = False) -> str:
    """`2026-12-01 17:30 (北京时间)`; empty for no time."""
    if at is None:
        return ""
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{in_beijing(at):{pattern}} ({ZONE_LABEL})"


def show_iso(text: str | None, *, seconds: bool = False) -> str:
    """`show` of an ISO 8601 time as the API's JSON carries it; text that is not one is shown as
    it is."""
    if not text:
        return ""
    try:
        return show(datetime.fromisoformat(text), seconds=seconds)
    except (ValueError, NaiveTime):
        return text


def parse_person_time(text: str) -> datetime:
    """A time a person typed (ISO 8601: `2026-12-01`, `2026-12-01T08:00`, `2026-12-01 08:00`):
    Beijing time unless it names its zone (`Z`, `+00:00`, `+08:00` …). Returns an aware
    datetime."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00+08:00)"
        ) from None
    return parsed.replace(tzinfo=BEIJING) if parsed.tzinfo is None else parsed
