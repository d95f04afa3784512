"""承诺时限: promised time limits counted in Chinese working days.

Pure functions over the `chinese-calendar` tables (statutory holidays and the weekends that are
made working days to compensate). A deadline falls at the end of its last working day, China
Standard Time. For a year the tables do not cover yet (the State Council publishes each year's
schedule late in the year before), weekdays count as working days and the deadline is marked
provisional rather than refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import chinese_calendar

CST = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True)
class Deadline:
    at: datetime
    calendar_known: bool


def is_working_day(day: date) -> tuple[bool, bool]:
    """(is a working day, the holiday tables cover this day)."""
    try:
        return bool(chinese_calendar.is_workday(day)), True
    except NotImplementedError:
        return day.weekday() < 5, False


def add_working_days(start: datetime, days: int) -> Deadline:
    """The end of the `days`-th working day after `start` (the start day itself not counted)."""
    day = start.astimezone(CST).date()
    known = True
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        working, covered = is_working_day(day)
        known = known and covered
        counted += working
    end_of_day = datetime.combine(day, time(23, 59, 59), CST)
    return Deadline(end_of_day, known)


def working_days_left(now: datetime, deadline: datetime) -> int:
    """Whole working days after today up to and including the deadline's day."""
    day, last = now.astimezone(CST).date(), deadline.astimezone(CST).date()
    left = 0
    while day < last:
        day += timedelta(days=1)
        left += is_working_day(day)[0]
    return left


@dataclass(frozen=True)
class DeadlineClock:
    """How a workflow turns promised working days into a timer.

    `working_day` set means a scaled clock (tests and demos): each working day lasts that long
    and the calendar is not consulted. None means real working days on the holiday calendar.
    """

    working_day: timedelta | None = None

    def deadline(self, start: datetime, days: int) -> Deadline:
        if self.working_day is not None:
            return Deadline(start + self.working_day * days, True)
        return add_working_days(start, days)

    def resume(self, paused_at: datetime, old_deadline: datetime, now: datetime) -> Deadline:
        """The deadline after a pause (补正): the working time left at the pause is kept."""
        if self.working_day is not None:
            return Deadline(now + max(old_deadline - paused_at, timedelta(0)), True)
        return add_working_days(now, working_days_left(paused_at, old_deadline))
