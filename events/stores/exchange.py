"""The exchange's stores: outbox, inbox, quarantine, message log and peers' log anchors.

Pure interfaces and the rows they hold. Every method runs inside the caller's unit of work
(`events.stores.unit.Transaction`), so an inbox row, its message-log entry and the receipt
answering it commit together, as do outbox rows with the case change they announce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# An inbox row's identity: event ids are unique per sender only.
InboxKey = tuple[str, str]  # (sender region, event id)


@dataclass(frozen=True)
class OutboxEntry:
    """An outgoing envelope as it is written, before anything happened to it."""

    event_id: str
    case_no: str
    event_type: str
    recipient_region: str
    topic: str
    envelope: bytes
    trace_context: str | None


@dataclass(frozen=True)
class PendingSend(OutboxEntry):
    """An unsent, unparked outbox row the relay holds until its transaction ends."""

    attempts: int
    lag_s: float  # since the row was written

    @property
    def size(self) -> int:
        return len(self.envelope)


@dataclass(frozen=True)
class SentEvent:
    """What a receipt is checked against: the business event as this node sent it."""

    case_no: str
    event_type: str
    recipient_region: str
    envelope: bytes
    receipted: bool
    failed: bool


@dataclass(frozen=True)
class DueResend:
    event_id: str
    event_type: str
    recipient_region: str
    attempts: int


@dataclass(frozen=True)
class FailedDelivery:
    """A business event given up on, whose case workflow has not been told yet."""

    event_id: str
    case_no: str
    event_type: str
    recipient_region: str
    attempts: int
    failure_reason: str


@dataclass(frozen=True)
class ResendSchedule:
    """How long a sent business event waits for its receipt: `first_wait_s` times
    `backoff` to the power of earlier sends, at most `max_wait_s`."""

    first_wait_s: float
    backoff: float
    max_wait_s: float


class Outbox(Protocol):
    async def add(self, entry: OutboxEntry) -> bool:
        """False when this event id was written before: the first row stays as it was.
        Wakes the relay when the unit of work commits."""

    async def contains(self, event_id: str) -> bool: ...

    async def unsend(self, event_ids: Sequence[str]) -> int:
        """Make rows unsent again (the relay publishes the same bytes); how many there were.
        Wakes the relay when the unit of work commits."""

    async def sent_event(self, event_id: str) -> SentEvent | None:
        """The row, held until the unit of work ends (a receipt and a resend never race)."""

    async def mark_receipted(self, event_id: str, receipt_event_id: str) -> None:
        """The first receipt counts: later ones change nothing."""

    async def take_unsent(self, limit: int) -> list[PendingSend]:
        """The oldest unsent, unparked rows in the order they were written, held until the
        unit of work ends; rows another unit of work holds are skipped."""

    async def mark_sent(
        self, event_ids: Sequence[str], receipt_type: str, schedule: ResendSchedule
    ) -> None:
        """Sent once more; a business event (not `receipt_type`) waits for its receipt."""

    async def park(self, event_id: str, reason: str, detail: str, receipt_type: str) -> None:
        """Never taken again. A parked business event is failed too (its receipt will never
        come); a parked receipt has no workflow waiting for it and is not."""

    async def due_for_resend(self, limit: int) -> list[DueResend]:
        """Sent, unreceipted, not failed, and past their wait; held until the unit of work
        ends."""

    async def seconds_to_next_resend(self) -> float | None:
        """How long until the first row still waiting for its receipt falls due (0 or less:
        due now); None when no row waits for one."""

    async def mark_exhausted(self, event_ids: Sequence[str]) -> None:
        """Failed for want of a receipt after every attempt."""

    async def failures_to_signal(self, limit: int) -> list[FailedDelivery]: ...

    async def mark_failure_signalled(self, event_id: str, note: str | None) -> None: ...

    async def backlog(self) -> tuple[int, float]:
        """(unsent unparked rows, age in seconds of the oldest of them, 0 when none)."""


@dataclass(frozen=True)
class InboxEntry:
    """A verified envelope as the bridge stores it."""

    event_id: str
    case_no: str
    event_type: str
    sender_region: str
    envelope: bytes
    topic: str
    partition: int
    offset: int
    trace_context: str | None
    # Receipts settle this node's outbox and reach no workflow: stored as delivered.
    receipt: bool


@dataclass(frozen=True)
class PendingDelivery:
    sender_region: str
    event_id: str
    case_no: str
    event_type: str
    envelope: bytes
    trace_context: str | None

    @property
    def key(self) -> InboxKey:
        return (self.sender_region, self.event_id)


class Inbox(Protocol):
    async def add(self, entry: InboxEntry) -> bool:
        """False when (sender, event id) was stored before; nothing changes then."""

    async def envelope(self, sender_region: str, event_id: str) -> bytes | None:
        """The bytes stored under (sender, event id)."""

    async def count_duplicate(self, sender_region: str, event_id: str) -> None: ...

    async def duplicates(self, sender_region: str, event_id: str) -> int: ...

    async def set_receipt(self, sender_region: str, event_id: str, receipt_event_id: str) -> None:
        """Which receipt answered the row."""

    async def undelivered(self, keys: Sequence[InboxKey]) -> list[PendingDelivery]:
        """Those of `keys` neither delivered nor undeliverable, in the order received."""

    async def undelivered_of(self, case_nos: Sequence[str]) -> list[InboxKey]:
        """Every row of these cases neither delivered nor undeliverable, oldest first."""

    async def stale_undelivered(self, older_than_s: float, limit: int) -> list[InboxKey]:
        """Rows a crash left undelivered: received at least `older_than_s` ago, oldest first."""

    async def mark_delivered(self, marks: Sequence[tuple[InboxKey, str | None]]) -> None:
        """Each row delivered, with its note (why it went nowhere, or None)."""

    async def mark_undeliverable(self, key: InboxKey, note: str) -> None: ...


@dataclass(frozen=True)
class QuarantineEntry:
    """A refused record, made storable by the caller (bounded, no NUL)."""

    reason: str
    detail: str
    raw: bytes  # at most the configured prefix of the record
    raw_sha256: bytes  # of all of it
    raw_length: int
    headers_json: str  # [[name, hex value], ...]
    topic: str
    partition: int
    offset: int
    claimed_sender: str | None


@dataclass(frozen=True)
class QuarantinedRecord:
    id: int
    raw: bytes
    headers: tuple[tuple[str, str], ...]  # (name, hex value)
    topic: str
    partition: int
    offset: int
    redriven_at: datetime | None


class Quarantine(Protocol):
    async def add(self, entry: QuarantineEntry) -> None:
        """Once per (topic, partition, offset): a record read again is not kept twice."""

    async def take(self, quarantine_id: int) -> QuarantinedRecord | None:
        """The row, held until the unit of work ends."""

    async def mark_redriven(self, quarantine_id: int, note: str) -> None: ...


@dataclass(frozen=True)
class LogRow:
    direction: str  # "sent" or "accepted"
    event_id: str
    envelope: bytes
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True)
class LogHead:
    seq: int
    hash: bytes


class MessageLog(Protocol):
    """Storage of the hash-chained log; the chain itself is `events.message_log`'s."""

    async def lock_tail(self) -> None:
        """Until the unit of work ends, no other one may append (one chain, no forks)."""

    async def contains(self, direction: str, event_id: str, envelope: bytes) -> bool: ...

    async def head(self) -> LogHead | None:
        """The newest row this unit of work sees, its own appends included."""

    async def add(self, row: LogRow) -> None: ...


class LogAnchors(Protocol):
    async def record(self, region: str, seq: int, hash_: bytes, receipt_event_id: str) -> None:
        """Keep a head a peer stated; a known head stays as first recorded."""
