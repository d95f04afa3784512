"""Dates people read are Beijing dates: case numbers, deadlines, the times a person types."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from events.models import CASE_NO_PATTERN
from regions.beijing_time import NaiveTime, beijing_date, parse_person_time, show, show_iso
from regions.window import new_case_no
from tests.fuzz.world import _case_no as fuzz_case_no


def test_a_case_taken_at_23_30_utc_carries_the_next_beijing_day() -> None:
    taken = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 2026-12-01 07:30 in Beijing
    case_no = new_case_no("350000", taken)
    assert re.match(CASE_NO_PATTERN, case_no)
    assert case_no.split("-")[1] == "20261201"


def test_a_case_taken_at_16_30_utc_carries_the_next_beijing_day_too() -> None:
    taken = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 2026-12-01 00:30 in Beijing
    assert new_case_no("350000", taken).split("-")[1] == "20261201"


def test_a_case_taken_before_beijing_midnight_keeps_its_day() -> None:
    taken = datetime(2026, 11, 30, 15, 59, tzinfo=UTC)  # 2026-11-30 23:59 in Beijing
    assert new_case_no("440000", taken).split("-")[1] == "20261130"


def test_the_fuzzer_numbers_cases_as_the_window_does() -> None:
    taken = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    case_no = fuzz_case_no("440000", taken)
    assert re.match(CASE_NO_PATTERN, case_no)
    assert case_no.split("-")[1] == new_case_no("440000", taken).split("-")[1] == "20261201"


def test_a_deadline_is_shown_in_beijing_time_and_says_so() -> None:
    deadline = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert show(deadline) == "2026-12-01 17:30 (北京时间)"
    assert show(deadline, seconds=True) == "2026-12-01 17:30:00 (北京时间)"
    assert show_iso("2026-12-01T15:59:59Z") == "2026-12-01 23:59 (北京时间)"
    assert show(None) == ""


def test_the_beijing_date_of_an_instant_in_another_zone() -> None:
    new_york = timezone(timedelta(hours=-5))
    assert str(beijing_date(datetime(2026, 11, 30, 19, 0, tzinfo=new_york))) == "2026-12-01"


def test_a_naive_time_is_never_guessed_for_display() -> None:
    with pytest.raises(NaiveTime):
        show(datetime(2026, 12, 1, 9, 30))


def test_a_time_a_person_types_is_beijing_time_unless_it_names_its_zone() -> None:
    assert parse_person_time("2026-12-01 08:00") == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert parse_person_time("2026-12-01") == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert parse_person_time("2026-12-01T08:00Z") == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert parse_person_time("2026-12-01T08:00+00:00").utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="not a time"):
        parse_person_time("yesterday")
