"""Named crash points: a node told to crash at one dies there, as `kill -9` would leave it.

Crash tests arm one point per node process (`TONGBAN_NODE_CRASH_AT`) to show that dying
between any two delivery steps leads to redelivery, never loss and never a double effect.
Unarmed, a point costs one string comparison.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Sender: outbox committed (by an activity) -> published -> marked sent.
RELAY_BEFORE_PUBLISH = "relay.before-publish"
RELAY_AFTER_PUBLISH = "relay.after-publish"
# Receiver: inbox committed -> Kafka offset committed -> workflow signalled -> marked delivered.
BRIDGE_AFTER_STORE = "bridge.after-store"
BRIDGE_AFTER_OFFSET_COMMIT = "bridge.after-offset-commit"
DISPATCH_AFTER_SIGNAL = "dispatch.after-signal"

CRASH_POINTS = frozenset(
    {
        RELAY_BEFORE_PUBLISH,
        RELAY_AFTER_PUBLISH,
        BRIDGE_AFTER_STORE,
        BRIDGE_AFTER_OFFSET_COMMIT,
        DISPATCH_AFTER_SIGNAL,
    }
)
# Distinct from any exit code a healthy or failing node returns, so a test can tell that
# the node died where it was told to.
CRASH_EXIT_CODE = 86


@dataclass(frozen=True)
class CrashPoints:
    armed: str | None = None

    def __post_init__(self) -> None:
        # A misspelt point would silently never fire and the crash test would prove nothing.
        if self.armed is not None and self.armed not in CRASH_POINTS:
            raise ValueError(f"unknown crash point {self.armed!r}; known: {sorted(CRASH_POINTS)}")

    def hit(self, name: str) -> None:
        if name != self.armed:
            return
        log.warning("crash point %s reached: exiting without cleanup", name)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(CRASH_EXIT_CODE)


NO_CRASH = CrashPoints()
