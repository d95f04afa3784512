"""The node loops' retry waits double up to their cap and start over once a loop works."""

from __future__ import annotations

from events.backoff import Backoff


async def test_waits_double_up_to_the_cap_and_reset() -> None:
    backoff = Backoff(first_s=0.001, cap_s=0.004)
    seen = []
    for _ in range(4):
        seen.append(backoff.next_s)
        await backoff.wait()
    assert seen == [0.001, 0.002, 0.004, 0.004]
    backoff.reset()
    assert backoff.next_s == 0.001
