"""The suites' one wait: ready answers come back, a timeout names what and the last answer."""

from __future__ import annotations

import pytest

from tests.waiting import NeverHappened, eventually


class Counter:
    def __init__(self) -> None:
        self.asked = 0

    async def next(self) -> int:
        self.asked += 1
        return self.asked


async def test_the_first_ready_answer_is_returned() -> None:
    counter = Counter()
    got = await eventually(counter.next, until=lambda n: n >= 3, timeout=5, what="3", every=0)
    assert (got, counter.asked) == (3, 3)


async def test_without_until_none_and_false_mean_not_yet() -> None:
    answers = iter([None, False, 0, "x"])

    async def probe() -> object:
        return next(answers)

    # 0 is an answer (a count can be 0): only None and False mean "not there yet".
    assert await eventually(probe, timeout=5, what="an answer", every=0) == 0


async def test_a_timeout_names_what_was_awaited_and_the_last_answer() -> None:
    counter = Counter()
    with pytest.raises(NeverHappened) as failed:
        await eventually(
            counter.next, until=lambda n: n < 0, timeout=0.05, what="a negative count", every=0.01
        )
    assert failed.value.what == "a negative count"
    assert failed.value.last == counter.asked
    assert f"waiting for a negative count; last seen: {counter.asked}" in str(failed.value)
    # Asked again once the deadline had passed: a slow probe gets its last look.
    assert counter.asked >= 2


async def test_a_long_last_answer_is_cut_in_the_message() -> None:
    async def probe() -> str:
        return "x" * 2000

    with pytest.raises(NeverHappened) as failed:
        await eventually(probe, until=lambda _: False, timeout=0, what="nothing")
    assert len(str(failed.value)) < 700
    assert failed.value.last == "x" * 2000
