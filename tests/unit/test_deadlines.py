"""承诺时限 in Chinese working days: holidays skipped, adjusted weekend workdays counted."""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.deadlines import CST, DeadlineClock, add_working_days, working_days_left


def at(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CST)


def test_an_ordinary_week_skips_the_weekend() -> None:
    # Thu 2026-11-26 + 3 working days: Fri 27, Mon 30, Tue Dec 1.
    deadline = add_working_days(at(2026, 11, 26), 3)
    assert deadline.at == datetime(2026, 12, 1, 23, 59, 59, tzinfo=CST)
    assert deadline.calendar_known


def test_the_national_day_holiday_is_skipped() -> None:
    # 2026-10-01..07 are holidays: from Wed Sep 30, the first working day is Thu Oct 8.
    assert add_working_days(at(2026, 9, 30), 1).at.date() == datetime(2026, 10, 8).date()


def test_an_adjusted_weekend_workday_counts() -> None:
    # Sun 2026-09-20 is a working day (调休): from Sat Sep 19, it is the first one.
    assert add_working_days(at(2026, 9, 19), 1).at.date() == datetime(2026, 9, 20).date()


def test_a_year_without_published_holidays_is_provisional() -> None:
    deadline = add_working_days(at(2026, 12, 28), 5)
    assert not deadline.calendar_known
    assert deadline.at.date() == datetime(2027, 1, 4).date()  # weekdays only in 2027


def test_working_days_left_counts_from_tomorrow() -> None:
    assert working_days_left(at(2026, 11, 26), datetime(2026, 12, 1, 23, tzinfo=CST)) == 3
    assert working_days_left(at(2026, 12, 1), datetime(2026, 12, 1, 23, tzinfo=CST)) == 0


def test_a_pause_gives_back_the_working_days_it_took() -> None:
    clock = DeadlineClock()
    first = clock.deadline(at(2026, 11, 23), 10)  # Mon + 10 working days: Mon Dec 7
    assert first.at.date() == datetime(2026, 12, 7).date()
    # Paused on Wed Nov 25 with 8 working days left; resumed Mon Nov 30.
    resumed = clock.resume(at(2026, 11, 25), first.at, at(2026, 11, 30))
    assert resumed.at.date() == datetime(2026, 12, 10).date()


def test_a_scaled_clock_for_tests_keeps_the_time_left() -> None:
    clock = DeadlineClock(working_day=timedelta(seconds=2))
    start = at(2026, 11, 27)
    deadline = clock.deadline(start, 5)
    assert deadline.at == start + timedelta(seconds=10)
    resumed = clock.resume(start + timedelta(seconds=4), deadline.at, start + timedelta(seconds=60))
    assert resumed.at == start + timedelta(seconds=66)
