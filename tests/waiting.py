"""The one way a test waits for something: `eventually`.

A test that sleeps a fixed time and then looks passes or fails with the machine's load; a
hand-rolled loop tends to forget its deadline or to say nothing useful when it gives up. Every
wait in the suites goes through `eventually` instead: it asks `probe` again until the answer is
ready, and when `timeout` runs out it fails with what was awaited and the last answer seen, so
a failure in CI says how far the system got.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

EVERY_S = 0.2
TIMEOUT_S = 30.0  # a step of a case on the local stack takes well under a second
_SHOWN_CHARS = 500  # of the last answer in the failure message: enough to see the state


class NeverHappened(AssertionError):
    """`what` did not happen within the timeout; `last` is the probe's last answer."""

    def __init__(self, what: str, timeout: float, last: object, shown: str) -> None:
        if len(shown) > _SHOWN_CHARS:
            shown = shown[:_SHOWN_CHARS] + "…"
        super().__init__(f"timed out after {timeout:.1f}s waiting for {what}; last seen: {shown}")
        self.what = what
        self.last = last


def _present(value: object) -> bool:
    return value is not None and value is not False


@overload
async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = TIMEOUT_S,
    what: str,
    every: float = EVERY_S,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = TIMEOUT_S,
    what: str,
    until: Callable[[T], bool],
    every: float = EVERY_S,
    describe: Callable[[T], object] = repr,
) -> T: ...


async def eventually(
    probe: Callable[[], Awaitable[Any]],
    *,
    timeout: float = TIMEOUT_S,
    what: str,
    until: Callable[[Any], bool] = _present,
    every: float = EVERY_S,
    describe: Callable[[Any], object] = repr,
) -> Any:
    """Ask `probe` every `every` seconds until its answer is ready; return that answer.

    Ready means `until(answer)`; without `until`, an answer that is neither None nor False
    (so a probe can return the thing it waited for, or None while it is not there yet).
    The probe is always asked at least once, and once more after the deadline has passed,
    so a slow probe is not cut short. Raises `NeverHappened` naming `what` and the last
    answer (shown through `describe`).
    """
    deadline = time.monotonic() + timeout
    while True:
        late = time.monotonic() > deadline
        last = await probe()
        if until(last):
            return last
        if late:
            raise NeverHappened(what, timeout, last, str(describe(last)))
        await asyncio.sleep(every)
