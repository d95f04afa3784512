"""The 代收 settlement ledger: what an accepting region (A) owes a processing region (B) for the
fees it collected on B's items, booked from the events the two exchanged (decision 0030).

Each region books an entry in the transaction that appends the event to its message log, so a
region's ledger cannot disagree with its log, and both regions book the same entry (same event,
amount and time) from the same signed event: one sent, the other accepted. The rules are the
lifecycle's (workflows/lifecycle): A charges the fee with the `forwarded` event and refunds it
whenever the case ends without approval after forwarding, which B tells with `decided`
(denied), `not-accepted` or `cancelled` (after A's withdrawal or recall, or 视为撤回 for a
missed 补正). An approval refunds nothing. B repeats its decision under a new event id to
answer a later withdrawal or recall: an entry is unique per case and kind, so it books once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, Protocol

from events.stores.unit import ContentRefused

Kind = Literal["collected", "refunded"]
COLLECTED: Kind = "collected"
REFUNDED: Kind = "refunded"
KIND_LABELS: dict[str, str] = {COLLECTED: "代收", REFUNDED: "退费"}

# China Standard Time: UTC+8 all year (no daylight saving since 1991).
BEIJING = timezone(timedelta(hours=8), "CST")

# The wire types (events.models.EventType values; the stores import nothing else of the
# project, and a unit test holds these equal).
FORWARDED = "cn.tongban.case.forwarded"
DECIDED = "cn.tongban.case.decided"
NOT_ACCEPTED = "cn.tongban.case.not-accepted"
CANCELLED = "cn.tongban.case.cancelled"
ENDINGS_WITHOUT_APPROVAL = frozenset({DECIDED, NOT_ACCEPTED, CANCELLED})


class SettlementEventUnreadable(ContentRefused):
    """An event the ledger must book lacks what booking needs. Envelopes reach the log
    verified, so this is a bug upstream: the append fails rather than the fee going unbooked."""


@dataclass(frozen=True)
class SettlementEntry:
    origin_region: str  # A, who collected and owes
    processing_region: str  # B, whose item it is
    case_no: str
    kind: Kind
    amount_fen: int  # +fee collected, -fee refunded
    event_id: str
    event_type: str
    event_time: datetime  # the event's own time (aware)
    business_day: date  # that time's Beijing calendar day


def business_day(at: datetime) -> date:
    if at.tzinfo is None:
        raise ValueError("an event time without a zone has no business day")
    return at.astimezone(BEIJING).date()


class SettlementLedger(Protocol):
    async def book(self, entry: SettlementEntry) -> bool:
        """False when the case has an entry of this kind already: nothing changes then."""

    async def collected_of(self, case_no: str) -> SettlementEntry | None: ...

    async def entries_of_day(
        self, origin_region: str, processing_region: str, day: date
    ) -> list[SettlementEntry]:
        """The pair's entries of that Beijing day, in the order of their events' times."""


def _read(envelope: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(envelope)
    except (UnicodeDecodeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _field(mapping: Any, name: str, kind: type) -> Any:
    value = mapping.get(name) if isinstance(mapping, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SettlementEventUnreadable(f"settlement: the event has no {kind.__name__} {name}")
    return value


def _time(event: dict[str, Any]) -> datetime:
    try:
        at = datetime.fromisoformat(_field(event, "time", str))
    except ValueError:
        raise SettlementEventUnreadable("settlement: the event's time is not ISO 8601") from None
    if at.tzinfo is None:
        raise SettlementEventUnreadable("settlement: the event's time has no zone")
    return at


def entry_for(event: dict[str, Any], collected: SettlementEntry | None) -> SettlementEntry | None:
    """The entry one exchanged event books, given the case's `collected` entry: None for an
    event that moves no money."""
    kind = event.get("type")
    data = event.get("data")
    if kind == FORWARDED:
        fee = _field(data, "fee_fen", int)
        if fee <= 0:
            return None  # no fee, nothing to settle
        at = _time(event)
        return SettlementEntry(
            origin_region=_field(data, "origin_region", str),
            processing_region=_field(data, "processing_region", str),
            case_no=_field(event, "subject", str),
            kind=COLLECTED,
            amount_fen=fee,
            event_id=_field(event, "id", str),
            event_type=kind,
            event_time=at,
            business_day=business_day(at),
        )
    if kind not in ENDINGS_WITHOUT_APPROVAL:
        return None
    if kind == DECIDED and _field(data, "outcome", str) != "denied":
        return None
    if collected is None:
        return None  # no fee was collected for the case: none to refund
    at = _time(event)
    return SettlementEntry(
        origin_region=collected.origin_region,
        processing_region=collected.processing_region,
        case_no=collected.case_no,
        kind=REFUNDED,
        amount_fen=-collected.amount_fen,
        event_id=_field(event, "id", str),
        event_type=str(kind),
        event_time=at,
        business_day=business_day(at),
    )


async def book_exchanged(ledger: SettlementLedger, envelope: bytes) -> SettlementEntry | None:
    """Book what an envelope appended to the message log moves, in the append's unit of
    work; the entry booked, or None (no money moves, or booked before). Bytes that are no
    JSON object are no event at all (the log's own tests store such) and book nothing."""
    event = _read(envelope)
    if event is None or event.get("type") not in (FORWARDED, *ENDINGS_WITHOUT_APPROVAL):
        return None
    collected = None
    if event["type"] != FORWARDED:
        collected = await ledger.collected_of(_field(event, "subject", str))
    entry = entry_for(event, collected)
    if entry is None or not await ledger.book(entry):
        return None
    return entry
