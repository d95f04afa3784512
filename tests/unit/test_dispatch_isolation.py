"""The dispatcher: one case whose workflow cannot be reached does not hold up the others, and
its events stay undelivered, in order, for the sweeper; an event the client refuses for good
is marked for operators and the case's next event still goes.

On the in-memory stores (events/stores/memory.py): the inbox rows and their delivery marks
are the ones the bridge and the sweeper see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from events.credentials import RegionCredentials
from events.models import EventType
from events.outbox import signed_envelope
from events.stores.exchange import InboxEntry, InboxKey
from events.stores.memory import InboxRow, MemoryStores
from regions.dispatch import InboxDispatcher
from regions.policies import CasePolicies
from tests.unit.conftest import NOW

A, B = "350000", "440000"
REACHABLE, UNREACHABLE = "350000-20261127-AAAAAAAA", "350000-20261127-BBBBBBBB"
REFUSED_REASON = "refused by the client"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class FakeHandle:
    workflow_id: str
    client: FakeClient

    async def signal(self, name: str, event: Any) -> None:
        if any(case in self.workflow_id for case in self.client.unreachable):
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
        if event.data.get("reason") == REFUSED_REASON:
            raise ValueError("a payload the workflow side cannot take")
        self.client.signalled.append((self.workflow_id, event.event_id))


@dataclass
class FakeClient:
    unreachable: set[str] = field(default_factory=lambda: {UNREACHABLE})
    signalled: list[tuple[str, str]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(workflow_id, self)


async def _received(
    stores: MemoryStores,
    guangdong: RegionCredentials,
    case_no: str,
    step: str,
    reason: str = "ok",
) -> InboxKey:
    envelope = signed_envelope(
        guangdong.signer(NOW),
        event_type=EventType.DECIDED,
        case_no=case_no,
        step=step,
        recipient=A,
        data={"case_no": case_no, "outcome": "approved", "reason": reason, "decision_digest": None},
        now=datetime(2026, 11, 27, 12, tzinfo=UTC),
    )
    async with stores.transaction() as tx:
        await tx.inbox.add(
            InboxEntry(
                event_id=envelope.id,
                case_no=case_no,
                event_type=envelope.type.value,
                sender_region=B,
                envelope=envelope.to_wire(),
                topic=f"tongban.inbox.{A}",
                partition=0,
                offset=len(stores.tables.inbox),
                trace_context=None,
                receipt=False,
            )
        )
    return (B, envelope.id)


def _dispatcher(stores: MemoryStores, client: FakeClient) -> InboxDispatcher:
    return InboxDispatcher(
        stores=stores, client=cast(Client, client), region=A, policies=CasePolicies()
    )


def _row(stores: MemoryStores, key: InboxKey) -> InboxRow:
    return stores.tables.inbox[key]


async def test_an_unreachable_case_is_deferred_and_the_others_delivered(
    guangdong: RegionCredentials,
) -> None:
    clock = Clock()
    stores, client = MemoryStores(clock), FakeClient()
    keys = [
        await _received(stores, guangdong, UNREACHABLE, "decided"),
        await _received(stores, guangdong, REACHABLE, "decided"),
        await _received(stores, guangdong, UNREACHABLE, "later"),
        await _received(stores, guangdong, REACHABLE, "later"),
    ]
    dispatcher = _dispatcher(stores, client)
    await dispatcher.deliver(keys)

    reachable, unreachable = [keys[1], keys[3]], [keys[0], keys[2]]
    assert [event_id for _, event_id in client.signalled] == [k[1] for k in reachable]
    assert all(_row(stores, k).delivered_at is not None for k in reachable)
    # Both of the unreachable case's events wait for the sweeper, the later one too.
    assert all(_row(stores, k).delivered_at is None for k in unreachable)

    # Not yet stale: the bridge's own dispatch may still be under way.
    assert await dispatcher.sweep(older_than_seconds=5) == 0
    client.unreachable.clear()
    clock.now += timedelta(seconds=6)
    assert await dispatcher.sweep(older_than_seconds=5) == 2
    assert [event_id for _, event_id in client.signalled[2:]] == [k[1] for k in unreachable]
    assert all(_row(stores, k).delivered_at is not None for k in keys)
    assert await dispatcher.sweep(older_than_seconds=5) == 0  # delivered once


async def test_an_event_the_client_refuses_is_marked_undeliverable_and_the_next_goes(
    guangdong: RegionCredentials,
) -> None:
    clock = Clock()
    stores, client = MemoryStores(clock), FakeClient()
    refused = await _received(stores, guangdong, REACHABLE, "first", reason=REFUSED_REASON)
    second = await _received(stores, guangdong, REACHABLE, "second")
    dispatcher = _dispatcher(stores, client)
    await dispatcher.deliver([refused, second])

    assert _row(stores, refused).undeliverable_at is not None
    assert _row(stores, refused).delivery_note == "undeliverable: ValueError"
    assert _row(stores, second).delivered_at is not None
    assert [event_id for _, event_id in client.signalled] == [second[1]]
    # Marked, so the sweeper does not take it up again.
    clock.now += timedelta(minutes=1)
    assert await dispatcher.sweep(older_than_seconds=5) == 0


async def test_a_database_outage_defers_delivery_to_the_sweeper(
    guangdong: RegionCredentials,
) -> None:
    stores, client = MemoryStores(), FakeClient(unreachable=set())
    key = await _received(stores, guangdong, REACHABLE, "decided")
    stores.unavailable = True
    await _dispatcher(stores, client).deliver([key])  # logged, not raised
    assert client.signalled == []
    assert _row(stores, key).delivered_at is None
