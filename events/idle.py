"""How a node's background loop waits between rounds, so that an idle node costs next to
nothing (issue 22): while rounds find work the loop goes round at its base interval; while
they find none, each wait doubles up to a ceiling; and whoever knows of new work (a commit's
NOTIFY, a part of the same node) wakes it at once, back at the base interval.

A wake-up may be lost (a dropped LISTEN connection): the ceiling bounds how late the work is
then found, which is why loops keep polling at all.
"""

from __future__ import annotations

import asyncio
import contextlib


class IdlePacer:
    def __init__(self, base_s: float, ceiling_s: float) -> None:
        if not 0 < base_s <= ceiling_s:
            raise ValueError("need 0 < base_s <= ceiling_s")
        self._base = base_s
        self._ceiling = ceiling_s
        self._last = base_s / 2  # so that the first idle wait is the base interval
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """New work exists: the current or next wait ends now. Safe from callbacks."""
        self._woken.set()

    def reset(self) -> None:
        """A round found work: the next idle wait is the base interval again."""
        self._last = self._base / 2

    async def wait(self, found_work: bool, due_in_s: float | None = None) -> float:
        """Wait after a round; returns the wait it chose. `due_in_s`: when work the loop
        already knows of falls due, which shortens the wait (never below the base)."""
        if found_work:
            self.reset()
        self._last = min(self._ceiling, self._last * 2)
        wait_s = self._last if due_in_s is None else max(self._base, min(self._last, due_in_s))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), wait_s)
        if self._woken.is_set():
            # Woken: the work that woke it is committed, so the next round sees it; a wake-up
            # arriving after this clear is for work the next round sees as well.
            self._woken.clear()
            self.reset()
        return wait_s
