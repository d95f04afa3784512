"""Settlement ledger scenarios on a province pair's stores, run on the in-memory stores
(tests/unit/test_settlement_ledger.py) and on Postgres (tests/integration/
test_settlement_store_contract.py): each event goes through the paths the node uses, the
outbox (`enqueue_in`, logged as sent) on its sender and the message log (logged as accepted)
on its recipient, and both ledgers must hold the same entries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from events import message_log
from events.envelope import ENVELOPE_VERSION, Envelope, event_id_for, region_source
from events.models import EventType
from events.outbox import enqueue_in
from events.stores.settlement import COLLECTED, REFUNDED, SettlementEntry
from events.stores.unit import Stores

A, B = "350000", "440000"
# 2026-11-30 10:00 in Beijing.
MORNING = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
DAY = date(2026, 11, 30)


@dataclass
class Pair:
    """A's and B's stores, and a clock the scenario moves a minute per event."""

    a: Stores
    b: Stores
    now: datetime = MORNING
    serial: int = field(default=0)

    def case_no(self) -> str:
        self.serial += 1
        return f"{A}-20261130-{self.serial:08d}"

    async def send(
        self,
        event_type: EventType,
        case_no: str,
        data: dict[str, Any],
        *,
        step: str | None = None,
    ) -> str:
        """The event from its sender to the other side; its id."""
        sender, recipient = (B, A) if event_type in _FROM_B else (A, B)
        self.now += timedelta(minutes=1)
        envelope = Envelope(
            id=event_id_for(case_no, step or event_type.value, sender),
            source=region_source(sender),
            type=event_type,
            time=self.now,
            subject=case_no,
            tbversion=ENVELOPE_VERSION,
            senderregion=sender,
            recipientregion=recipient,
            keyid=f"{sender}-k1",
            data={"case_no": case_no, **data},
        )
        wire = envelope.to_wire()
        sending, receiving = (self.b, self.a) if sender == B else (self.a, self.b)
        async with sending.transaction() as tx:
            assert await enqueue_in(tx, envelope)
        async with receiving.transaction() as tx:
            await message_log.append_to(tx.message_log, "accepted", envelope.id, wire)
        return envelope.id

    async def forward(self, case_no: str, fee_fen: int) -> str:
        return await self.send(
            EventType.FORWARDED,
            case_no,
            {
                "item_code": "GG-99001-000",
                "item_version": 1,
                "origin_region": A,
                "processing_region": B,
                "applicant": {
                    "recipient": B,
                    "key_id": "k",
                    "ephemeral_public": "e",
                    "nonce": "n",
                    "ciphertext": "c",
                },
                "materials": [],
                "fee_fen": fee_fen,
            },
        )

    async def decide(self, case_no: str, outcome: str, *, step: str = "decided") -> str:
        digest = hashlib.sha256(case_no.encode()).hexdigest()
        return await self.send(
            EventType.DECIDED,
            case_no,
            {"outcome": outcome, "reason": "", "decision_digest": digest},
            step=step,
        )

    async def ledgers(self, day: date = DAY) -> tuple[list[SettlementEntry], list[SettlementEntry]]:
        found = []
        for stores in (self.a, self.b):
            async with stores.transaction() as tx:
                found.append(await tx.settlement.entries_of_day(A, B, day))
        return found[0], found[1]


_FROM_B = frozenset(
    {EventType.DECIDED, EventType.NOT_ACCEPTED, EventType.CANCELLED, EventType.ACCEPTED}
)


def shown(entries: list[SettlementEntry]) -> list[tuple[str, str, int]]:
    return [(e.case_no, e.kind, e.amount_fen) for e in entries]


async def approved_books_the_fee_only(pair: Pair) -> None:
    case_no = pair.case_no()
    forwarded = await pair.forward(case_no, 2500)
    await pair.send(EventType.ACCEPTED, case_no, _accepted(pair))
    await pair.decide(case_no, "approved")
    a, b = await pair.ledgers()
    assert shown(a) == [(case_no, COLLECTED, 2500)]
    assert a == b  # the same entry on both sides: event, amount, time, day
    assert (a[0].event_id, a[0].origin_region, a[0].processing_region) == (forwarded, A, B)
    assert a[0].event_time == MORNING + timedelta(minutes=1)
    assert a[0].business_day == DAY


async def denied_refunds(pair: Pair) -> None:
    case_no = pair.case_no()
    await pair.forward(case_no, 500)
    decided = await pair.decide(case_no, "denied")
    a, b = await pair.ledgers()
    assert shown(a) == [(case_no, COLLECTED, 500), (case_no, REFUNDED, -500)]
    assert a == b
    assert a[1].event_id == decided


async def not_accepted_refunds(pair: Pair) -> None:
    case_no = pair.case_no()
    await pair.forward(case_no, 1000)
    await pair.send(EventType.NOT_ACCEPTED, case_no, {"reason": "不属于本机关职权范围"})
    a, b = await pair.ledgers()
    assert shown(a) == [(case_no, COLLECTED, 1000), (case_no, REFUNDED, -1000)]
    assert a == b


async def withdrawn_then_cancelled_refunds(pair: Pair) -> None:
    case_no = pair.case_no()
    await pair.forward(case_no, 800)
    await pair.send(EventType.WITHDRAWN, case_no, {"reason": "不再需要"})
    assert shown((await pair.ledgers())[0]) == [(case_no, COLLECTED, 800)]  # not yet
    cancelled = await pair.send(EventType.CANCELLED, case_no, {"revoked": []})
    a, b = await pair.ledgers()
    assert shown(a) == [(case_no, COLLECTED, 800), (case_no, REFUNDED, -800)]
    assert a == b
    assert a[1].event_id == cancelled


async def a_decision_repeated_for_a_recall_books_once(pair: Pair) -> None:
    case_no = pair.case_no()
    await pair.forward(case_no, 300)
    first = await pair.decide(case_no, "denied")
    recall = {"cause": "answer-timeout", "reason": "答复超时"}
    await pair.send(EventType.RECALLED, case_no, recall)
    again = await pair.decide(case_no, "denied", step="decided-again")
    assert again != first
    a, b = await pair.ledgers()
    assert shown(a) == [(case_no, COLLECTED, 300), (case_no, REFUNDED, -300)]
    assert a == b
    assert a[1].event_id == first


async def no_fee_books_nothing(pair: Pair) -> None:
    case_no = pair.case_no()
    await pair.forward(case_no, 0)
    await pair.decide(case_no, "denied")
    assert await pair.ledgers() == ([], [])


async def the_business_day_is_beijings(pair: Pair) -> None:
    """An event at 23:30 UTC on the 29th is on the 30th in Beijing."""
    pair.now = datetime(2026, 11, 29, 23, 29, tzinfo=UTC)
    case_no = pair.case_no()
    await pair.forward(case_no, 100)
    # Each event is a minute after the clock: 23:59 in Beijing, still the 30th.
    pair.now = datetime(2026, 11, 30, 15, 58, tzinfo=UTC)
    await pair.decide(case_no, "denied")
    pair.now = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 00:01 on 12-01
    later = pair.case_no()
    await pair.forward(later, 200)
    a, b = await pair.ledgers()
    assert shown(a) == [(case_no, COLLECTED, 100), (case_no, REFUNDED, -100)]
    assert a == b
    assert shown((await pair.ledgers(date(2026, 12, 1)))[1]) == [(later, COLLECTED, 200)]


def _accepted(pair: Pair) -> dict[str, Any]:
    return {"promised_working_days": 20, "deadline": (pair.now + timedelta(days=30)).isoformat()}


SCENARIOS = (
    approved_books_the_fee_only,
    denied_refunds,
    not_accepted_refunds,
    withdrawn_then_cancelled_refunds,
    a_decision_repeated_for_a_recall_books_once,
    no_fee_books_nothing,
    the_business_day_is_beijings,
)
