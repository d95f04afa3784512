"""Gauges a node reports from its own database: cases by status, and the outbox backlog.

Observable instruments are read by the metrics reader on its own schedule; the callbacks only
return the last snapshot, which a loop refreshes, so an export never waits on Postgres.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

import asyncpg
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from events.pg import DATABASE_UNAVAILABLE
from events.stores.postgres import PostgresStores
from events.stores.unit import Stores

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    cases: dict[tuple[str, str], int] = field(default_factory=dict)  # (role, status) -> count
    unsent: int = 0
    oldest_unsent_s: float = 0.0


async def read_snapshot(stores: Stores) -> Snapshot:
    async with stores.transaction() as tx:
        cases = await tx.cases.count_by_role_and_status()
        unsent, oldest = await tx.outbox.backlog()
    return Snapshot(cases=cases, unsent=unsent, oldest_unsent_s=oldest)


class _Board:
    """The node gauges' instruments, created once per process, and the regions they report.

    The SDK hands back the first instrument of a name and drops the callbacks given with any
    later one, so regions sharing a process (regions/node_host.py) must share the instruments:
    each callback reports every live region's snapshot, tagged with its region."""

    def __init__(self) -> None:
        self.regions: weakref.WeakSet[RegionGauges] = weakref.WeakSet()
        self._created = False

    def join(self, gauges: RegionGauges) -> None:
        self.regions.add(gauges)
        if self._created:
            return
        self._created = True
        meter = metrics.get_meter("tongban.node")
        meter.create_observable_gauge(
            "tongban.cases", [self._cases], unit="{case}", description="Cases by role and status"
        )
        meter.create_observable_gauge(
            "tongban.outbox.unsent", [self._unsent], unit="{event}", description="Outbox backlog"
        )
        meter.create_observable_gauge(
            "tongban.outbox.oldest_unsent_age",
            [self._oldest],
            unit="s",
            description="Age of the oldest unpublished outbox row (0 when none)",
        )

    def _live(self) -> list[RegionGauges]:
        return sorted(self.regions, key=lambda g: g.region)

    def _cases(self, _: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(n, {"region": g.region, "role": role, "status": status})
            for g in self._live()
            for (role, status), n in g.snapshot.cases.items()
        ]

    def _unsent(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(g.snapshot.unsent, {"region": g.region}) for g in self._live()]

    def _oldest(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(g.snapshot.oldest_unsent_s, {"region": g.region}) for g in self._live()]


BOARD = _Board()


class RegionGauges:
    def __init__(
        self, pool: asyncpg.Pool, region: str, interval_s: float = 10.0, board: _Board = BOARD
    ) -> None:
        self._pool = pool
        self.region = region
        self._interval = interval_s
        self.snapshot = Snapshot()
        self._board = board
        board.join(self)

    async def refresh(self) -> None:
        self.snapshot = await read_snapshot(PostgresStores(self._pool))

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.refresh()
                except DATABASE_UNAVAILABLE as exc:
                    log.warning(
                        "gauges %s: refresh failed, keeping the last values: %s", self.region, exc
                    )
                await asyncio.sleep(self._interval)
        finally:
            self._board.regions.discard(self)  # a stopped region reports nothing more
