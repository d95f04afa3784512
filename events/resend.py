"""The resender: business events that no receipt answered in time are sent again, with
backoff; when the attempts run out the row is marked failed, the case workflow is told and
an alarm is raised (state in the outbox row, a WARNING log line, a metric).

Marking failed and telling the workflow are two steps, because a signal cannot join the
transaction: `failure_signalled_at` records the second, so a crash between them means the
workflow is told again (it ignores an event id it has seen), never not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from opentelemetry import metrics
from temporalio.service import RPCError

from events.idle import IdlePacer
from events.models import DeliveryFailure, EventType
from events.pg import DATABASE_UNAVAILABLE
from events.resend_policy import ResendPolicy
from events.stores.exchange import DueResend
from events.stores.unit import Stores

log = logging.getLogger(__name__)

# Failures that mean "try again later": the service is restarting or unreachable.
_TRANSIENT: tuple[type[Exception], ...] = (RPCError, *DATABASE_UNAVAILABLE)

# (case number, failure) -> a note when nobody could be told, else None.
FailureNotifier = Callable[[str, DeliveryFailure], Awaitable[str | None]]


@dataclass(frozen=True)
class ScanResult:
    resent: int = 0
    failed: int = 0
    notified: int = 0
    next_due_s: float | None = None  # until the next row waiting for a receipt falls due

    @property
    def found_work(self) -> bool:
        return bool(self.resent or self.failed or self.notified)


class Resender:
    def __init__(
        self,
        *,
        stores: Stores,
        region: str,
        policy: ResendPolicy,
        notify: FailureNotifier,
        meter: metrics.Meter | None = None,
    ) -> None:
        self._stores = stores
        self._region = region
        self._policy = policy
        self._notify = notify
        # It sleeps until the next receipt wait ends (none: up to the ceiling); the relay
        # wakes it when it sends business events, whose waits it then knows.
        self._pacer = IdlePacer(
            policy.scan_interval.total_seconds(), policy.idle_scan_ceiling.total_seconds()
        )
        meter = meter or metrics.get_meter(__name__)
        self._failed_counter = meter.create_counter(
            "tongban.delivery.failed",
            unit="{event}",
            description="Business events given up on after every resend went unreceipted",
        )
        self._resent_counter = meter.create_counter(
            "tongban.delivery.resent", unit="{event}", description="Resends for lack of receipt"
        )

    async def scan(self) -> ScanResult:
        async with self._stores.transaction() as tx:
            due = await tx.outbox.due_for_resend(200)
            exhausted = [r for r in due if r.attempts >= self._policy.max_attempts]
            retry = [r.event_id for r in due if r.attempts < self._policy.max_attempts]
            if retry:
                # Unsent again: the relay publishes the same bytes with the same event id.
                await tx.outbox.unsend(retry)
            if exhausted:
                await tx.outbox.mark_exhausted([r.event_id for r in exhausted])
            next_due_s = await tx.outbox.seconds_to_next_resend()
        if retry:
            self._resent_counter.add(len(retry), {"region": self._region})
        for row in exhausted:
            self._alarm(row)
        notified = await self._notify_failures()
        return ScanResult(len(retry), len(exhausted), notified, next_due_s)

    def _alarm(self, row: DueResend) -> None:
        # Ids, types and region codes only: never anything from the payload.
        log.warning(
            "ALARM delivery failed: %s event %s to %s had no receipt after %d attempts",
            row.event_type,
            row.event_id,
            row.recipient_region,
            row.attempts,
        )
        self._failed_counter.add(
            1,
            {
                "region": self._region,
                "recipient": row.recipient_region,
                "event_type": row.event_type,
            },
        )

    async def _notify_failures(self) -> int:
        async with self._stores.transaction() as tx:
            rows = await tx.outbox.failures_to_signal(100)
        for row in rows:
            failure = DeliveryFailure(
                event_id=row.event_id,
                event_type=EventType(row.event_type),
                recipient_region=row.recipient_region,
                attempts=row.attempts,
                reason=row.failure_reason,
            )
            note = await self._notify(row.case_no, failure)
            async with self._stores.transaction() as tx:
                await tx.outbox.mark_failure_signalled(row.event_id, note)
        return len(rows)

    def wake(self) -> None:
        """Business events were just sent: their receipt waits start now."""
        self._pacer.wake()

    async def run(self) -> None:
        while True:
            try:
                result = await self.scan()
            except _TRANSIENT as exc:
                log.warning("resender %s: scan failed, will retry: %s", self._region, exc)
                await self._pacer.wait(found_work=False)
            else:
                await self._pacer.wait(result.found_work, result.next_due_s)
