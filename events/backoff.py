"""Growing waits between the retries of a node loop whose database or broker is down."""

from __future__ import annotations

import asyncio


class Backoff:
    """0.2 s, 0.4 s, … up to 10 s; back to the first wait once the loop works again."""

    def __init__(self, first_s: float = 0.2, cap_s: float = 10.0) -> None:
        self._first_s = first_s
        self._cap_s = cap_s
        self.next_s = first_s  # what the next `wait` sleeps, for the loop's log line

    async def wait(self) -> None:
        await asyncio.sleep(self.next_s)
        self.next_s = min(self.next_s * 2, self._cap_s)

    def reset(self) -> None:
        self.next_s = self._first_s
