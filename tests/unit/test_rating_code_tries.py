"""A rating code is only as secret as the receipt (decision 0039): wrong codes entered for a
case hold it up after 5 in 15 minutes, with a typed refusal in Chinese (429), and not for
ever: the period passes, and a new code from the clerk clears them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from events.ratings import (
    MAX_WRONG_CODES,
    WRONG_CODE_PERIOD,
    WrongCodes,
    too_many_wrong_codes,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _after(
    tries: int, start: datetime = NOW, step: timedelta = timedelta(seconds=10)
) -> WrongCodes:
    wrong = WrongCodes()
    for n in range(tries):
        wrong = wrong.after_another(start + step * n)
    return wrong


def test_five_wrong_codes_in_a_quarter_hour_hold_the_case_up() -> None:
    assert MAX_WRONG_CODES == 5
    assert not _after(4).blocks(NOW + timedelta(minutes=1))
    held = _after(5)
    assert (held.tries, held.since) == (5, NOW)
    assert held.blocks(NOW + timedelta(minutes=1))
    assert held.blocks(NOW + WRONG_CODE_PERIOD - timedelta(seconds=1))


def test_the_hold_ends_when_the_period_has_passed_and_counting_starts_again() -> None:
    held = _after(5)
    later = NOW + WRONG_CODE_PERIOD
    assert not held.blocks(later)
    assert held.after_another(later) == WrongCodes(1, later)


def test_wrong_codes_spread_over_more_than_the_period_never_hold_it_up() -> None:
    slow = _after(12, step=WRONG_CODE_PERIOD / 4)
    assert slow.tries < MAX_WRONG_CODES
    assert not slow.blocks(NOW + WRONG_CODE_PERIOD * 3)


def test_no_code_entered_wrong_holds_nothing_up() -> None:
    assert not WrongCodes().blocks(NOW)


def test_the_refusal_is_a_429_that_says_in_chinese_what_to_do() -> None:
    refused = too_many_wrong_codes()
    assert (refused.status, refused.rule) == (429, "rating_code_tries")
    assert "评价码输入错误次数过多" in refused.message
    assert "15 分钟后再试" in refused.message
    assert "重新出具评价码" in refused.message
