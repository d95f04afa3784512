"""邀评 (decision 0039): which concluded cases the ratings sweeper invites, by when they were
concluded. The rest of the rule (origin cases in an end state, no rating of any step, no
invitation answered) is the sweeper's query, run on the real stack in
tests/integration/test_ratings.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from regions.rating_rules import RatingRules

NOW = datetime(2026, 10, 8, 9, 0, tzinfo=UTC)


def _invited(rules: RatingRules, concluded: datetime) -> bool:
    window = rules.invitation_window(NOW)
    assert window is not None
    earliest, latest = window
    return earliest < concluded <= latest


def test_by_default_a_case_is_invited_three_calendar_days_after_it_was_concluded() -> None:
    rules = RatingRules()
    assert (rules.invite_after_days, rules.invite_within_days) == (3, 7)
    # Calendar days: 国庆 (10-01 … 10-08) does not hold the invitation back.
    assert _invited(rules, NOW - timedelta(days=3))
    assert not _invited(rules, NOW - timedelta(days=3) + timedelta(minutes=1))


def test_a_case_concluded_long_ago_is_not_invited_any_more() -> None:
    rules = RatingRules()
    assert _invited(rules, NOW - timedelta(days=10) + timedelta(minutes=1))
    assert not _invited(rules, NOW - timedelta(days=10))
    assert not _invited(rules, NOW - timedelta(days=400))


def test_zero_days_invites_at_once_and_none_turns_invitations_off() -> None:
    assert _invited(RatingRules(invite_after_days=0), NOW)
    assert RatingRules(invite_after_days=None).invitation_window(NOW) is None
    with pytest.raises(ValidationError):
        RatingRules(invite_after_days=-1)


def test_on_the_scaled_clock_of_tests_a_day_lasts_the_working_day() -> None:
    rules = RatingRules(
        invite_after_days=1, invite_within_days=10, working_day=timedelta(seconds=20)
    )
    assert rules.invitation_window(NOW) == (
        NOW - timedelta(seconds=220),
        NOW - timedelta(seconds=20),
    )
