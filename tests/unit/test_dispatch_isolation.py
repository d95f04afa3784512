"""The dispatcher: one case whose workflow cannot be reached does not hold up the others, and
its events stay undelivered, in order, for the sweeper."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from events.credentials import RegionCredentials
from events.models import EventType
from events.outbox import signed_envelope
from regions.dispatch import InboxDispatcher
from regions.policies import CasePolicies
from tests.unit.conftest import NOW

A, B = "350000", "440000"
REACHABLE, UNREACHABLE = "350000-20261127-AAAAAAAA", "350000-20261127-BBBBBBBB"
REFUSED_REASON = "refused by the client"


@dataclass
class FakeInbox:
    """The two queries the dispatcher makes of the inbox table."""

    rows: list[dict[str, Any]]
    delivered: list[str] = field(default_factory=list)
    undeliverable: list[str] = field(default_factory=list)

    async def fetch(self, query: str, senders: list[str], ids: list[str]) -> list[dict[str, Any]]:
        done = self.delivered + self.undeliverable
        keys = set(zip(senders, ids, strict=True))
        return [
            r
            for r in self.rows
            if (r["sender_region"], r["event_id"]) in keys and r["event_id"] not in done
        ]

    async def execute(self, query: str, sender: str, event_id: str, note: str | None) -> None:
        marked = self.undeliverable if "undeliverable_at" in query else self.delivered
        marked.append(event_id)


@dataclass
class FakeHandle:
    workflow_id: str
    signalled: list[tuple[str, str]]

    async def signal(self, name: str, event: Any) -> None:
        if UNREACHABLE in self.workflow_id:
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
        if event.data.get("reason") == REFUSED_REASON:
            raise ValueError("a payload the workflow side cannot take")
        self.signalled.append((self.workflow_id, event.event_id))


@dataclass
class FakeClient:
    signalled: list[tuple[str, str]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(workflow_id, self.signalled)


def _decided(
    guangdong: RegionCredentials, case_no: str, step: str, reason: str = "ok"
) -> dict[str, Any]:
    envelope = signed_envelope(
        guangdong.signer(NOW),
        event_type=EventType.DECIDED,
        case_no=case_no,
        step=step,
        recipient=A,
        data={"case_no": case_no, "outcome": "approved", "reason": reason, "decision_digest": None},
        now=datetime(2026, 11, 27, 12, tzinfo=UTC),
    )
    return {
        "sender_region": B,
        "event_id": envelope.id,
        "case_no": case_no,
        "event_type": envelope.type.value,
        "envelope": envelope.to_wire(),
        "trace_context": None,
    }


async def test_an_unreachable_case_is_deferred_and_the_others_delivered(
    guangdong: RegionCredentials,
) -> None:
    rows = [
        _decided(guangdong, UNREACHABLE, "decided"),
        _decided(guangdong, REACHABLE, "decided"),
        _decided(guangdong, UNREACHABLE, "later"),
        _decided(guangdong, REACHABLE, "later"),
    ]
    inbox, client = FakeInbox(rows), FakeClient()
    dispatcher = InboxDispatcher(
        pool=cast(asyncpg.Pool, inbox),
        client=cast(Client, client),
        region=A,
        policies=CasePolicies(),
    )
    await dispatcher.deliver([(B, r["event_id"]) for r in rows])

    reachable = [r["event_id"] for r in rows if r["case_no"] == REACHABLE]
    assert inbox.delivered == reachable
    assert [event_id for _, event_id in client.signalled] == reachable  # in order
    # Both of the unreachable case's events wait for the sweeper, the later one too.
    assert all(r["event_id"] not in inbox.delivered for r in rows if r["case_no"] == UNREACHABLE)


async def test_an_event_the_client_refuses_is_marked_undeliverable_and_the_next_goes(
    guangdong: RegionCredentials,
) -> None:
    rows = [
        _decided(guangdong, REACHABLE, "first", reason=REFUSED_REASON),
        _decided(guangdong, REACHABLE, "second"),
    ]
    inbox, client = FakeInbox(rows), FakeClient()
    dispatcher = InboxDispatcher(
        pool=cast(asyncpg.Pool, inbox),
        client=cast(Client, client),
        region=A,
        policies=CasePolicies(),
    )
    await dispatcher.deliver([(B, r["event_id"]) for r in rows])

    assert inbox.undeliverable == [rows[0]["event_id"]]
    assert inbox.delivered == [rows[1]["event_id"]]
    # Marked, so the sweeper does not take it up again.
    assert await inbox.fetch("", [B, B], [r["event_id"] for r in rows]) == []
