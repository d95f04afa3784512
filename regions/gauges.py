"""Gauges a node reports from its own database: cases by status, and the outbox backlog.

Observable instruments are read by the metrics reader on its own schedule; the callbacks only
return the last snapshot, which a loop refreshes, so an export never waits on Postgres.
"""

from __future__ import annotations

import asyncio
import logging
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


class RegionGauges:
    def __init__(self, pool: asyncpg.Pool, region: str, interval_s: float = 10.0) -> None:
        self._pool = pool
        self._region = region
        self._interval = interval_s
        self.snapshot = Snapshot()
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

    def _cases(self, _: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(n, {"region": self._region, "role": role, "status": status})
            for (role, status), n in self.snapshot.cases.items()
        ]

    def _unsent(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.snapshot.unsent, {"region": self._region})]

    def _oldest(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.snapshot.oldest_unsent_s, {"region": self._region})]

    async def refresh(self) -> None:
        self.snapshot = await read_snapshot(PostgresStores(self._pool))

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except DATABASE_UNAVAILABLE as exc:
                log.warning(
                    "gauges %s: refresh failed, keeping the last values: %s", self._region, exc
                )
            await asyncio.sleep(self._interval)
