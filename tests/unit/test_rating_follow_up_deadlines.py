"""差评整改's deadlines (decision 0039) are working days on the holiday calendar: a 差评 given the
day before 国庆 is not due during the holiday, and the 调休 Saturday counts as a working day.
(The escalation itself, on a scaled clock, is in tests/integration/test_ratings.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta

from events.ratings import FollowUpStart, Level
from regions.rating_rules import RatingRules
from workflows.deadlines import CST
from workflows.ratings import follow_up_due

RULES = RatingRules()


def _start(working_day: timedelta | None = None) -> FollowUpStart:
    return FollowUpStart(
        rating_id="00000000-0000-5000-8000-000000000000",
        case_no="350000-20260930-AAAAAAAA",
        region="440000",
        origin_region="350000",
        level=Level.VERY_DISSATISFIED,
        revisit_working_days=RULES.revisit_working_days,
        rectify_working_days=RULES.rectify_working_days,
        working_day=working_day,
    )


def test_the_defaults_are_five_and_fifteen_working_days() -> None:
    assert (RULES.revisit_working_days, RULES.rectify_working_days) == (5, 15)


def test_a_rating_before_national_day_is_due_after_the_holiday() -> None:
    rated = datetime(2026, 9, 30, 10, 0, tzinfo=CST)  # Wednesday; 10-01 … 10-07 are 国庆
    due = follow_up_due(_start(), rated)
    # 回访: 10-08, 10-09, 10-10 (the Saturday worked for 国庆), 10-12, 10-13.
    assert due["revisit"] == datetime(2026, 10, 13, 23, 59, 59, tzinfo=CST)
    assert due["rectify"] == datetime(2026, 10, 27, 23, 59, 59, tzinfo=CST)
    # Counted in calendar days it would have fallen in the holiday.
    assert rated + timedelta(days=5) < datetime(2026, 10, 8, tzinfo=CST)


def test_a_scaled_clock_counts_its_own_working_days() -> None:
    rated = datetime(2026, 9, 30, 10, 0, tzinfo=CST)
    due = follow_up_due(_start(timedelta(seconds=20)), rated)
    assert due == {
        "revisit": rated + timedelta(seconds=100),
        "rectify": rated + timedelta(seconds=300),
    }
