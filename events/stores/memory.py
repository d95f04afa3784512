"""The stores in memory, with the semantics of the Postgres ones, for fast tests.

What the callers rely on holds here as it does in Postgres: a transaction commits all its
writes or none, and a savepoint undoes only its own; outbox rows are taken in the order they
were written; an inbox row is unique per (sender region, event id) and a second add changes
nothing; outbox rows move through unsent, sent, parked, receipted and failed as the SQL
moves them; the message log is one chain; a text value with NUL is refused as Postgres
refuses it. Transactions run one at a time (which also gives FOR UPDATE its meaning);
`unavailable` makes every new transaction fail as a database that went away does.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from events.stores.cases import CaseRecord, NewCase
from events.stores.exchange import (
    DueResend,
    FailedDelivery,
    InboxEntry,
    InboxKey,
    LogHead,
    LogRow,
    OutboxEntry,
    PendingDelivery,
    PendingSend,
    QuarantinedRecord,
    QuarantineEntry,
    ResendSchedule,
    SentEvent,
)
from events.stores.files import CaseFile, FilePart
from events.stores.files_memory import MemoryBlobs, MemoryCaseFiles
from events.stores.settlement import SettlementEntry, book_exchanged
from events.stores.settlement_memory import MemorySettlementLedger
from events.stores.unit import ContentRefused

Clock = Callable[[], datetime]


def _storable(*values: str | None) -> None:
    for value in values:
        if value is not None and "\x00" in value:
            raise ContentRefused("invalid byte sequence: a text value holds NUL")


@dataclass
class OutboxRow:
    seq: int
    entry: OutboxEntry
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    receipted_at: datetime | None = None
    receipt_event_id: str | None = None
    failed_at: datetime | None = None
    failure_reason: str | None = None
    failure_signalled_at: datetime | None = None
    failure_note: str | None = None
    parked_at: datetime | None = None
    park_reason: str | None = None
    park_detail: str | None = None


@dataclass
class InboxRow:
    seq: int
    entry: InboxEntry
    received_at: datetime
    delivered_at: datetime | None = None
    delivery_note: str | None = None
    undeliverable_at: datetime | None = None
    receipt_event_id: str | None = None


@dataclass
class QuarantineRow:
    id: int
    entry: QuarantineEntry
    received_at: datetime
    redriven_at: datetime | None = None
    redrive_note: str | None = None


@dataclass
class Tables:
    """Everything a region's database holds that the stores touch; public for assertions."""

    outbox: dict[str, OutboxRow] = field(default_factory=dict)
    inbox: dict[InboxKey, InboxRow] = field(default_factory=dict)
    inbox_duplicates: dict[InboxKey, int] = field(default_factory=dict)
    quarantine: dict[int, QuarantineRow] = field(default_factory=dict)
    message_log: list[LogRow] = field(default_factory=list)
    anchors: dict[tuple[str, int, bytes], str] = field(default_factory=dict)
    cases: dict[str, CaseRecord] = field(default_factory=dict)
    status_steps: dict[str, int] = field(default_factory=dict)
    file_blobs: dict[str, bytes] = field(default_factory=dict)
    case_files: dict[tuple[str, str], CaseFile] = field(default_factory=dict)
    file_parts: dict[tuple[str, str, int, str], FilePart] = field(default_factory=dict)
    settlement: dict[tuple[str, str], SettlementEntry] = field(default_factory=dict)
    next_seq: int = 1

    def seq(self) -> int:
        self.next_seq += 1
        return self.next_seq - 1


class MemoryOutbox:
    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    @property
    def _rows(self) -> dict[str, OutboxRow]:
        return self._tx.tables.outbox

    async def add(self, entry: OutboxEntry) -> bool:
        _storable(entry.event_id, entry.case_no, entry.event_type, entry.trace_context)
        if entry.event_id in self._rows:
            return False
        self._rows[entry.event_id] = OutboxRow(self._tx.tables.seq(), entry, self._tx.now)
        self._tx.wake_relay = True
        return True

    async def contains(self, event_id: str) -> bool:
        return event_id in self._rows

    async def unsend(self, event_ids: Sequence[str]) -> int:
        found = [self._rows[e] for e in event_ids if e in self._rows]
        for row in found:
            row.sent_at = None
        if found:
            self._tx.wake_relay = True
        return len(found)

    async def sent_event(self, event_id: str) -> SentEvent | None:
        row = self._rows.get(event_id)
        if row is None:
            return None
        return SentEvent(
            case_no=row.entry.case_no,
            event_type=row.entry.event_type,
            recipient_region=row.entry.recipient_region,
            envelope=row.entry.envelope,
            receipted=row.receipted_at is not None,
            failed=row.failed_at is not None,
        )

    async def mark_receipted(self, event_id: str, receipt_event_id: str) -> None:
        row = self._rows.get(event_id)
        if row is not None:
            row.receipted_at = row.receipted_at or self._tx.now
            row.receipt_event_id = row.receipt_event_id or receipt_event_id

    async def take_unsent(self, limit: int) -> list[PendingSend]:
        unsent = sorted(
            (r for r in self._rows.values() if r.sent_at is None and r.parked_at is None),
            key=lambda r: r.seq,
        )
        return [
            PendingSend(
                **vars(r.entry),
                attempts=r.attempts,
                lag_s=(self._tx.now - r.created_at).total_seconds(),
            )
            for r in unsent[:limit]
        ]

    async def mark_sent(
        self, event_ids: Sequence[str], receipt_type: str, schedule: ResendSchedule
    ) -> None:
        now = self._tx.now
        for event_id in event_ids:
            row = self._rows.get(event_id)
            if row is None:
                continue
            if row.entry.event_type == receipt_type:
                row.next_attempt_at = None
            else:
                wait = min(
                    schedule.first_wait_s * schedule.backoff**row.attempts, schedule.max_wait_s
                )
                row.next_attempt_at = now + timedelta(seconds=wait)
            row.sent_at = now
            row.attempts += 1

    async def park(self, event_id: str, reason: str, detail: str, receipt_type: str) -> None:
        row = self._rows.get(event_id)
        if row is None:
            return
        row.parked_at, row.park_reason, row.park_detail = self._tx.now, reason, detail
        if row.entry.event_type != receipt_type:
            row.failed_at = self._tx.now
            row.failure_reason = f"parked: {detail}"

    async def due_for_resend(self, limit: int) -> list[DueResend]:
        now = self._tx.now
        due = sorted(
            (
                r
                for r in self._rows.values()
                if r.receipted_at is None
                and r.failed_at is None
                and r.sent_at is not None
                and r.next_attempt_at is not None
                and r.next_attempt_at <= now
            ),
            key=lambda r: (r.next_attempt_at, r.seq),
        )
        return [
            DueResend(r.entry.event_id, r.entry.event_type, r.entry.recipient_region, r.attempts)
            for r in due[:limit]
        ]

    async def seconds_to_next_resend(self) -> float | None:
        waiting = [
            r.next_attempt_at
            for r in self._rows.values()
            if r.receipted_at is None
            and r.failed_at is None
            and r.sent_at is not None
            and r.next_attempt_at is not None
        ]
        return (min(waiting) - self._tx.now).total_seconds() if waiting else None

    async def mark_exhausted(self, event_ids: Sequence[str]) -> None:
        for event_id in event_ids:
            row = self._rows.get(event_id)
            if row is not None:
                row.failed_at = self._tx.now
                row.failure_reason = f"no receipt after {row.attempts} attempts"

    async def failures_to_signal(self, limit: int) -> list[FailedDelivery]:
        failed = sorted(
            (
                r
                for r in self._rows.values()
                if r.failed_at is not None and r.failure_signalled_at is None
            ),
            key=lambda r: (r.failed_at, r.seq),
        )
        return [
            FailedDelivery(
                event_id=r.entry.event_id,
                case_no=r.entry.case_no,
                event_type=r.entry.event_type,
                recipient_region=r.entry.recipient_region,
                attempts=r.attempts,
                failure_reason=r.failure_reason or "",
            )
            for r in failed[:limit]
        ]

    async def mark_failure_signalled(self, event_id: str, note: str | None) -> None:
        row = self._rows.get(event_id)
        if row is not None:
            row.failure_signalled_at, row.failure_note = self._tx.now, note

    async def backlog(self) -> tuple[int, float]:
        unsent = [r for r in self._rows.values() if r.sent_at is None and r.parked_at is None]
        if not unsent:
            return 0, 0.0
        oldest = min(r.created_at for r in unsent)
        return len(unsent), (self._tx.now - oldest).total_seconds()


class MemoryInbox:
    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    @property
    def _rows(self) -> dict[InboxKey, InboxRow]:
        return self._tx.tables.inbox

    async def add(self, entry: InboxEntry) -> bool:
        _storable(entry.event_id, entry.case_no, entry.event_type, entry.sender_region)
        _storable(entry.topic, entry.trace_context)
        key = (entry.sender_region, entry.event_id)
        if key in self._rows:
            return False
        row = InboxRow(self._tx.tables.seq(), entry, self._tx.now)
        if entry.receipt:
            row.delivered_at, row.delivery_note = self._tx.now, "receipt: not dispatched"
        self._rows[key] = row
        return True

    async def envelope(self, sender_region: str, event_id: str) -> bytes | None:
        row = self._rows.get((sender_region, event_id))
        return None if row is None else row.entry.envelope

    async def count_duplicate(self, sender_region: str, event_id: str) -> None:
        counts = self._tx.tables.inbox_duplicates
        key = (sender_region, event_id)
        counts[key] = counts.get(key, 0) + 1

    async def duplicates(self, sender_region: str, event_id: str) -> int:
        return self._tx.tables.inbox_duplicates.get((sender_region, event_id), 0)

    async def set_receipt(self, sender_region: str, event_id: str, receipt_event_id: str) -> None:
        row = self._rows.get((sender_region, event_id))
        if row is not None:
            row.receipt_event_id = receipt_event_id

    def _pending(self, row: InboxRow) -> bool:
        return row.delivered_at is None and row.undeliverable_at is None

    async def undelivered(self, keys: Sequence[InboxKey]) -> list[PendingDelivery]:
        rows = [self._rows[k] for k in set(keys) if k in self._rows]
        return [
            PendingDelivery(
                sender_region=r.entry.sender_region,
                event_id=r.entry.event_id,
                case_no=r.entry.case_no,
                event_type=r.entry.event_type,
                envelope=r.entry.envelope,
                trace_context=r.entry.trace_context,
            )
            for r in sorted(rows, key=lambda r: (r.received_at, r.seq))
            if self._pending(r)
        ]

    async def undelivered_of(self, case_nos: Sequence[str]) -> list[InboxKey]:
        found = sorted(
            (r for r in self._rows.values() if self._pending(r) and r.entry.case_no in case_nos),
            key=lambda r: (r.received_at, r.seq),
        )
        return [(r.entry.sender_region, r.entry.event_id) for r in found]

    async def stale_undelivered(self, older_than_s: float, limit: int) -> list[InboxKey]:
        cutoff = self._tx.now - timedelta(seconds=older_than_s)
        stale = sorted(
            (r for r in self._rows.values() if self._pending(r) and r.received_at < cutoff),
            key=lambda r: (r.received_at, r.seq),
        )
        return [(r.entry.sender_region, r.entry.event_id) for r in stale[:limit]]

    async def mark_delivered(self, marks: Sequence[tuple[InboxKey, str | None]]) -> None:
        for key, note in marks:
            row = self._rows.get(key)
            if row is not None:
                row.delivered_at, row.delivery_note = self._tx.now, note

    async def mark_undeliverable(self, key: InboxKey, note: str) -> None:
        row = self._rows.get(key)
        if row is not None:
            row.undeliverable_at, row.delivery_note = self._tx.now, note


class MemoryQuarantine:
    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    async def add(self, entry: QuarantineEntry) -> None:
        _storable(entry.reason, entry.detail, entry.headers_json, entry.claimed_sender)
        rows = self._tx.tables.quarantine
        place = (entry.topic, entry.partition, entry.offset)
        if any((r.entry.topic, r.entry.partition, r.entry.offset) == place for r in rows.values()):
            return
        new_id = max(rows, default=0) + 1
        rows[new_id] = QuarantineRow(new_id, entry, self._tx.now)

    async def take(self, quarantine_id: int) -> QuarantinedRecord | None:
        row = self._tx.tables.quarantine.get(quarantine_id)
        if row is None:
            return None
        return QuarantinedRecord(
            id=row.id,
            raw=row.entry.raw,
            headers=tuple((str(k), str(v)) for k, v in json.loads(row.entry.headers_json)),
            topic=row.entry.topic,
            partition=row.entry.partition,
            offset=row.entry.offset,
            redriven_at=row.redriven_at,
        )

    async def mark_redriven(self, quarantine_id: int, note: str) -> None:
        row = self._tx.tables.quarantine.get(quarantine_id)
        if row is not None:
            row.redriven_at, row.redrive_note = self._tx.now, note


class MemoryMessageLog:
    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    async def lock_tail(self) -> None:
        """Transactions run one at a time here: the tail is always this one's."""

    async def contains(self, direction: str, event_id: str, envelope: bytes) -> bool:
        return any(
            (r.direction, r.event_id, r.envelope) == (direction, event_id, envelope)
            for r in self._tx.tables.message_log
        )

    async def head(self) -> LogHead | None:
        rows = self._tx.tables.message_log
        return LogHead(len(rows), rows[-1].hash) if rows else None

    async def add(self, row: LogRow) -> None:
        rows = self._tx.tables.message_log
        if any(
            (r.direction, r.event_id, r.envelope) == (row.direction, row.event_id, row.envelope)
            for r in rows
        ):
            raise ContentRefused("duplicate key value violates unique constraint message_log")
        rows.append(row)
        await book_exchanged(MemorySettlementLedger(self._tx), row.envelope)


class MemoryLogAnchors:
    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    async def record(self, region: str, seq: int, hash_: bytes, receipt_event_id: str) -> None:
        self._tx.tables.anchors.setdefault((region, seq, hash_), receipt_event_id)


class MemoryCaseStore:
    def __init__(self, tx: MemoryTransaction) -> None:
        self._tx = tx

    @property
    def _rows(self) -> dict[str, CaseRecord]:
        return self._tx.tables.cases

    async def add(self, case: NewCase) -> bool:
        _storable(case.case_no, case.item_code, case.submission_window, case.submission_key)
        if case.case_no in self._rows:
            return False
        if case.submission_key is not None and case.submission_window is not None:
            scope = (case.origin_region, case.submission_window, case.submission_key)
            if any(
                (r.origin_region, r.submission_window, r.submission_key) == scope
                for r in self._rows.values()
            ):
                return False
        now = self._tx.now
        self._rows[case.case_no] = CaseRecord(
            **{f: getattr(case, f) for f in NewCase.__dataclass_fields__},
            created_at=now,
            updated_at=now,
        )
        return True

    async def get(self, case_no: str) -> CaseRecord | None:
        return self._rows.get(case_no)

    async def get_for_update(self, case_no: str) -> CaseRecord | None:
        return self._rows.get(case_no)

    async def by_submission(self, origin_region: str, window: str, key: str) -> CaseRecord | None:
        return next(
            (
                r
                for r in self._rows.values()
                if (r.origin_region, r.submission_window, r.submission_key)
                == (origin_region, window, key)
            ),
            None,
        )

    async def processing_region(self, case_no: str) -> str | None:
        found = self._rows.get(case_no)
        return None if found is None else found.processing_region

    async def of_applicant(self, subject: str, limit: int) -> list[CaseRecord]:
        mine = [r for r in self._rows.values() if r.applicant_subject == subject]
        mine.sort(key=lambda r: (r.created_at or self._tx.now, r.case_no), reverse=True)
        return mine[:limit]

    async def set_status(self, case_no: str, status: str, steps: int) -> bool:
        found = self._rows.get(case_no)
        if found is None:
            return False
        _storable(status)
        recorded = self._tx.tables.status_steps
        if recorded.get(case_no, 0) <= steps:
            recorded[case_no] = steps
            self._rows[case_no] = replace(found, status=status, updated_at=self._tx.now)
        return True

    async def add_materials(self, case_no: str, materials: Sequence[dict[str, Any]]) -> None:
        found = self._rows.get(case_no)
        if found is None:
            return
        joined = list(found.materials)
        joined += [m for m in materials if m not in joined]
        self._rows[case_no] = replace(found, materials=joined, updated_at=self._tx.now)

    async def discard_unstarted(self, case_no: str) -> None:
        found = self._rows.get(case_no)
        if found is not None and found.status == "received":
            del self._rows[case_no]

    async def page(
        self, status: str | None, limit: int, offset: int
    ) -> tuple[list[CaseRecord], int]:
        found = [r for r in self._rows.values() if status is None or r.status == status]
        found.sort(key=lambda r: r.case_no)
        found.sort(key=lambda r: r.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return found[offset : offset + limit], len(found)

    async def last_changes(self, case_nos: Sequence[str]) -> dict[str, datetime]:
        return {
            n: r.updated_at
            for n in case_nos
            if (r := self._rows.get(n)) is not None and r.updated_at is not None
        }

    async def count_by_role_and_status(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for r in self._rows.values():
            counts[(r.role, r.status)] = counts.get((r.role, r.status), 0) + 1
        return counts


class MemoryTransaction:
    def __init__(self, tables: Tables, clock: Clock) -> None:
        self.tables = tables
        self._clock = clock
        self.wake_relay = False
        self.cases = MemoryCaseStore(self)
        self.outbox = MemoryOutbox(self)
        self.inbox = MemoryInbox(self)
        self.quarantine = MemoryQuarantine(self)
        self.message_log = MemoryMessageLog(self)
        self.anchors = MemoryLogAnchors(self)
        self.blobs = MemoryBlobs(self)
        self.files = MemoryCaseFiles(self)
        self.settlement = MemorySettlementLedger(self)

    @property
    def now(self) -> datetime:
        # As Postgres' now(): the clock when read, here; tests move the clock between steps.
        return self._clock()

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        before = copy.deepcopy(self.tables)
        try:
            yield
        except BaseException:
            self.tables.__dict__.update(before.__dict__)
            raise


class MemoryStores:
    def __init__(self, clock: Clock | None = None) -> None:
        self.tables = Tables()
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.unavailable = False
        self._lock = asyncio.Lock()
        self._holder: MemoryTransaction | None = None
        self._holder_task: asyncio.Task[Any] | None = None
        self._wakeups: list[Callable[[], None]] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTransaction]:
        if self.unavailable:
            raise ConnectionRefusedError("the in-memory database is unavailable")
        if self._holder is not None and self._holder_task is asyncio.current_task():
            # Opened inside one this task holds: a savepoint, as on one Postgres connection.
            async with self._holder.savepoint():
                yield self._holder
            return
        async with self._lock:
            tx = MemoryTransaction(self.tables, self.clock)
            before = copy.deepcopy(self.tables)
            self._holder, self._holder_task = tx, asyncio.current_task()
            try:
                yield tx
            except BaseException:
                self.tables.__dict__.update(before.__dict__)
                raise
            finally:
                self._holder = self._holder_task = None
        if tx.wake_relay:
            for wake in list(self._wakeups):
                wake()

    @contextlib.asynccontextmanager
    async def pinned(self) -> AsyncIterator[MemoryStores]:
        yield self

    @contextlib.asynccontextmanager
    async def outbox_wakeups(self, wake: Callable[[], None]) -> AsyncIterator[Callable[[], bool]]:
        if self.unavailable:
            raise ConnectionRefusedError("the in-memory database is unavailable")
        self._wakeups.append(wake)
        try:
            yield lambda: True  # no connection to lose
        finally:
            self._wakeups.remove(wake)
