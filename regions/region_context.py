"""Which region the running code works for, where several regions share one process
(decision 0047): a context variable each region's task sets, so every task it starts (its
worker's activities, its loops, its API's requests) inherits it, and log records and spans
made in those tasks carry the region without each call naming it.

Code running outside a region's tasks (the host itself, threads the context did not reach)
sees `NO_REGION`.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

NO_REGION = "-"
CURRENT_REGION: ContextVar[str] = ContextVar("tongban_region", default=NO_REGION)

# What `tongban node run` logs with when it hosts several regions: each line names its region.
HOST_LOG_FORMAT = "%(asctime)s %(levelname)s [%(region)s] %(name)s: %(message)s"


class RegionLogTag(logging.Filter):
    """Sets `record.region` from the running context (`%(region)s` in a format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.region = CURRENT_REGION.get()
        return True


def tag_log_handlers(logger: logging.Logger | None = None) -> None:
    """Put the region tag on every handler of `logger` (the root by default): a filter on a
    handler sees the records of every logger that propagates to it, one on a logger does not."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RegionLogTag) for f in handler.filters):
            handler.addFilter(RegionLogTag())
