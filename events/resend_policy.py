"""How long a sender waits for a receipt, how often it resends, and when it gives up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class ResendPolicy:
    # The first wait covers a receiver that is merely slow or restarting; each resend waits
    # `backoff` times longer, up to `max_wait`, so a long outage costs few resends.
    receipt_timeout: timedelta = timedelta(seconds=30)
    backoff: float = 2.0
    max_wait: timedelta = timedelta(hours=1)
    # Counting the first send. With the defaults the sender gives up after about 8.5 hours,
    # long enough for a region to recover from an ordinary outage before A compensates.
    max_attempts: int = 10
    scan_interval: timedelta = timedelta(seconds=1)
    # With no receipt awaited, the resender looks this seldom at most (it is woken when
    # business events are sent, and sleeps until a wait ends otherwise).
    idle_scan_ceiling: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.backoff < 1.0:
            raise ValueError("max_attempts must be >= 1 and backoff >= 1.0")
        if self.receipt_timeout <= timedelta(0):
            raise ValueError("receipt_timeout must be positive")

    def wait_after(self, attempts: int) -> timedelta:
        """The wait for a receipt after the `attempts`-th send (1 = the first send)."""
        seconds = self.receipt_timeout.total_seconds() * self.backoff ** (attempts - 1)
        return min(timedelta(seconds=seconds), self.max_wait)
