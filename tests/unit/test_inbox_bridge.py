"""The inbox bridge and the inbound boundary (events/bridge.py, events/inbox.py) on the
in-memory stores: every record ends in the inbox once per (sender, event id) or in quarantine,
with its message-log entry and receipt in the same unit of work, before the offsets are
committed; only then are the accepted events dispatched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import pytest
from aiokafka import TopicPartition

from events.bridge import InboxBridge
from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.inbox import IncomingRecord, Stored, admit
from events.models import EventReceipt, EventType
from events.outbox import enqueue_in, signed_envelope
from events.receipts import receipt_for, receipt_id, record_digest
from events.rejections import Rejected, RejectReason
from events.signing import RegionSigner
from events.stores.cases import NewCase
from events.stores.exchange import InboxKey, ResendSchedule
from events.stores.memory import MemoryStores
from events.verify import VerifyLimits, verify_record
from tests.unit.conftest import NOW

A, B = "350000", "440000"
CASE = "350000-20261127-ABCDEFGH"
TP = TopicPartition(f"tongban.inbox.{A}", 0)


@dataclass
class _Message:
    offset: int
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class _Consumer:
    """Records what the bridge commits, and what the stores held at that moment."""

    stores: MemoryStores
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    inbox_at_commit: list[int] = field(default_factory=list)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        self.inbox_at_commit.append(len(self.stores.tables.inbox))


def _verifier(fujian: RegionCredentials) -> Callable[[bytes], Envelope]:
    def verify(raw: bytes) -> Envelope:
        return verify_record(
            raw, recipient=A, directory=fujian.directory(), now=NOW, limits=VerifyLimits()
        )

    return verify


def _signer_at(creds: RegionCredentials) -> Callable[[datetime], RegionSigner]:
    return lambda _: creds.signer(NOW)


def _decided(guangdong: RegionCredentials, reason: str = "ok") -> bytes:
    return signed_envelope(
        guangdong.signer(NOW),
        event_type=EventType.DECIDED,
        case_no=CASE,
        step="decided",
        recipient=A,
        data={"case_no": CASE, "outcome": "approved", "reason": reason, "decision_digest": None},
        now=NOW,
    ).to_wire()


async def _case_forwarded_to(stores: MemoryStores, processing: str) -> None:
    async with stores.transaction() as tx:
        await tx.cases.add(
            NewCase(
                case_no=CASE,
                role="origin",
                item_code="GG-00102-000",
                item_version=1,
                origin_region=A,
                processing_region=processing,
                applicant_sealed={},
            )
        )


@dataclass
class _Setup:
    stores: MemoryStores
    consumer: _Consumer
    bridge: InboxBridge
    dispatched: list[list[InboxKey]]


def _bridge(fujian: RegionCredentials, stores: MemoryStores) -> _Setup:
    consumer = _Consumer(stores)
    dispatched: list[list[InboxKey]] = []

    async def dispatch(keys: list[InboxKey]) -> None:
        # Dispatch comes after the offsets are committed, never before.
        assert len(consumer.commits) == len(dispatched) + 1
        dispatched.append(keys)

    bridge = InboxBridge(
        stores=stores,
        consumer=cast(Any, consumer),
        verify=_verifier(fujian),
        region=A,
        dispatch=cast(Callable[[list[InboxKey]], Awaitable[None]], dispatch),
        signer_at=_signer_at(fujian),
    )
    return _Setup(stores, consumer, bridge, dispatched)


async def test_a_batch_is_stored_once_each_then_committed_then_dispatched(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    stores = MemoryStores()
    await _case_forwarded_to(stores, B)
    setup = _bridge(fujian, stores)
    decided = _decided(guangdong)
    conflicting = _decided(guangdong, reason="other bytes under the same id")
    event_id = Envelope.model_validate_json(decided).id
    rid = receipt_id(Envelope.model_validate_json(decided), A)
    await setup.bridge.handle({TP: cast(Any, [_Message(10, decided), _Message(11, b"\x00no")])})
    async with stores.transaction() as tx:  # the relay sends the receipt; it gets lost
        await tx.outbox.mark_sent([rid], EventType.RECEIPT.value, ResendSchedule(30, 2, 3600))
    assert stores.tables.outbox[rid].sent_at is not None
    # The sender had no receipt and sent the event again; then other bytes under its id.
    await setup.bridge.handle({TP: cast(Any, [_Message(12, decided), _Message(13, conflicting)])})

    assert setup.bridge.stats.counts == {
        Stored.ACCEPTED: 1,
        Stored.DUPLICATE: 1,
        Stored.QUARANTINED: 2,
    }
    assert setup.consumer.commits == [{TP: 12}, {TP: 14}]
    assert setup.consumer.inbox_at_commit == [1, 1]  # stored before the commit
    assert setup.dispatched == [[(B, event_id)]]
    tables = stores.tables
    assert tables.inbox[(B, event_id)].entry.envelope == decided  # never the conflicting one
    assert tables.inbox_duplicates == {(B, event_id): 1}
    reasons = {row.entry.offset: row.entry.reason for row in tables.quarantine.values()}
    assert reasons == {11: RejectReason.MALFORMED.value, 13: "conflicting-duplicate"}
    assert [(r.direction, r.event_id) for r in tables.message_log] == [
        ("accepted", event_id),
        ("sent", rid),
    ]
    # One receipt, written with the inbox row, and unsent again by the duplicate.
    receipt = tables.outbox[rid]
    assert tables.inbox[(B, event_id)].receipt_event_id == receipt.entry.event_id
    assert receipt.sent_at is None
    assert len(tables.outbox) == 1


async def test_a_record_read_again_after_a_lost_commit_is_not_applied_twice(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    stores = MemoryStores()
    await _case_forwarded_to(stores, B)
    setup = _bridge(fujian, stores)
    decided = _decided(guangdong)
    await setup.bridge.handle({TP: cast(Any, [_Message(10, decided)])})
    # The node died before the offset commit reached the broker: the batch comes again.
    await setup.bridge.handle({TP: cast(Any, [_Message(10, decided)])})
    assert setup.bridge.stats.counts[Stored.ACCEPTED] == 1
    assert setup.bridge.stats.counts[Stored.DUPLICATE] == 1
    assert len(setup.dispatched) == 1
    assert sum(r.direction == "accepted" for r in stores.tables.message_log) == 1


async def test_an_unavailable_database_commits_nothing_and_raises_for_a_reread(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    stores = MemoryStores()
    setup = _bridge(fujian, stores)
    stores.unavailable = True
    with pytest.raises(OSError, match="unavailable"):
        await setup.bridge.handle({TP: cast(Any, [_Message(10, _decided(guangdong))])})
    assert setup.consumer.commits == []
    assert setup.dispatched == []


async def test_a_processing_event_from_a_region_the_case_was_not_sent_to_is_refused(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    stores = MemoryStores()
    await _case_forwarded_to(stores, "110000")
    record = IncomingRecord(TP.topic, 0, 10, _decided(guangdong))
    admission = await admit(stores, record, _verifier(fujian), A, _signer_at(fujian))
    assert admission.stored is Stored.QUARANTINED
    assert admission.rejected is not None
    assert admission.rejected.reason is RejectReason.SENDER_NOT_ENTITLED
    assert stores.tables.inbox == {}
    assert stores.tables.outbox == {}  # no receipt for what was refused


async def test_a_receipt_settles_the_event_it_answers_and_reaches_no_workflow(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    stores = MemoryStores()
    forwarded = signed_envelope(
        fujian.signer(NOW),
        event_type=EventType.WITHDRAWN,
        case_no=CASE,
        step="withdrawn",
        recipient=B,
        data={"case_no": CASE, "reason": "撤回"},
        now=NOW,
    )
    async with stores.transaction() as tx:
        await enqueue_in(tx, forwarded)
    receipt = receipt_for(guangdong.signer(NOW), forwarded, forwarded.to_wire(), NOW).to_wire()
    setup = _bridge(fujian, stores)
    await setup.bridge.handle({TP: cast(Any, [_Message(20, receipt)])})

    sent = stores.tables.outbox[forwarded.id]
    assert sent.receipted_at is not None
    assert sent.receipt_event_id == Envelope.model_validate_json(receipt).id
    stored = next(iter(stores.tables.inbox.values()))
    assert stored.delivery_note == "receipt: not dispatched"
    assert setup.dispatched == []  # committed, and nothing for a workflow


async def test_a_receipt_for_another_digest_is_refused_and_changes_nothing(
    fujian: RegionCredentials, guangdong: RegionCredentials
) -> None:
    stores = MemoryStores()
    sent = signed_envelope(
        fujian.signer(NOW),
        event_type=EventType.WITHDRAWN,
        case_no=CASE,
        step="withdrawn",
        recipient=B,
        data={"case_no": CASE, "reason": "撤回"},
        now=NOW,
    )
    async with stores.transaction() as tx:
        await enqueue_in(tx, sent)
    forged = EventReceipt(
        case_no=CASE, receipted_event_id=sent.id, receipted_digest=record_digest(b"other")
    )
    receipt = signed_envelope(
        guangdong.signer(NOW),
        event_type=EventType.RECEIPT,
        case_no=CASE,
        step=f"receipt/{sent.id}",
        recipient=A,
        data=forged.model_dump(mode="json"),
        now=NOW,
    ).to_wire()
    record = IncomingRecord(TP.topic, 0, 21, receipt)
    admission = await admit(stores, record, _verifier(fujian), A, _signer_at(fujian))
    assert isinstance(admission.rejected, Rejected)
    assert admission.rejected.reason is RejectReason.RECEIPT_MISMATCH
    assert stores.tables.outbox[sent.id].receipted_at is None
    assert stores.tables.inbox == {}
