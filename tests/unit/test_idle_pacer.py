"""An idle loop looks less and less often, up to its ceiling; work or a wake-up brings it back
to its base interval at once (issue 22: an idle node costs next to nothing)."""

from __future__ import annotations

import asyncio

import pytest

from events.idle import IdlePacer


async def test_idle_waits_double_up_to_the_ceiling_and_work_resets_them() -> None:
    pacer = IdlePacer(0.001, 0.004)
    idle = [await pacer.wait(found_work=False) for _ in range(4)]
    assert idle == [0.001, 0.002, 0.004, 0.004]
    assert await pacer.wait(found_work=True) == 0.001
    assert await pacer.wait(found_work=False) == 0.002


async def test_known_work_falling_due_shortens_the_wait_but_never_below_the_base() -> None:
    pacer = IdlePacer(0.001, 1.0)
    for _ in range(5):
        await pacer.wait(found_work=False)  # backed off to 0.032
    assert await pacer.wait(found_work=False, due_in_s=0.003) == 0.003
    assert await pacer.wait(found_work=False, due_in_s=-5.0) == 0.001  # overdue: the base


async def test_a_wake_up_ends_a_long_wait_and_one_given_before_the_wait_is_not_lost() -> None:
    pacer = IdlePacer(3600.0, 3600.0)
    waiting = asyncio.create_task(pacer.wait(found_work=False))
    await asyncio.sleep(0)  # the wait has begun
    assert not waiting.done()
    pacer.wake()
    # An hour's wait ends as soon as the loop runs again (the guard only stops a hang).
    await asyncio.wait_for(waiting, 60)
    pacer.wake()  # during a round: the next wait returns at once
    await asyncio.wait_for(pacer.wait(found_work=False), 60)


def test_a_ceiling_below_the_base_is_refused() -> None:
    with pytest.raises(ValueError, match="base_s"):
        IdlePacer(2.0, 1.0)
