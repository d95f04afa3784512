"""The operators' exchange health panel and attention lists read from a real region database.

A scratch database with every migration holds the situations: an unsent outbox row twenty
minutes old, a parked one, a forwarded event a peer has not receipted, one given up on, records
quarantined today and yesterday, inbox rows refused by a workflow or still waiting, open and
closed cases that moved or did not; the figures, levels and reasons read from it are checked.
Overdue cases come from the search attributes of workflows started in the region's namespace
on a task queue nobody polls (terminated afterwards).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from deploy.stack.migrations import apply_migrations
from deploy.stack.settings import StackEndpoints, StackSettings
from events.models import EventType
from events.trust import KeyEntry, RegionEntry, TrustDirectory
from operators import health
from operators.attention import AttentionCase, StuckThresholds, overdue_cases, stuck_cases
from operators.health import Level, exchange_health
from regions.naming import intake_workflow_id
from tests.integration.exchange_support import new_case_no
from tests.support.stack_access import temporal_client
from tests.waiting import eventually
from workflows.search import (
    CASE_NO,
    CASE_STATUS,
    DEADLINE,
    ITEM_CODE,
    ORIGIN_REGION,
    OVERDUE,
    PROCESSING_REGION,
)

pytestmark = pytest.mark.integration

A, B, C = "350000", "440000", "110000"
NOW = datetime.now(UTC)
FORWARDED = EventType.FORWARDED.value


@pytest.fixture
async def db(
    stack: StackEndpoints, stack_settings: StackSettings
) -> AsyncIterator[asyncpg.Connection]:
    """A scratch region database with every migration, dropped afterwards."""
    name = f"tongban_health_{secrets.token_hex(4)}"
    server = await asyncpg.connect(stack.postgres_dsn)
    await server.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(urlsplit(stack.postgres_dsn)._replace(path=f"/{name}"))
    try:
        await apply_migrations(dsn, stack_settings.migrations_dir)
        conn = await asyncpg.connect(dsn)
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()


def _directory(valid_for: timedelta | None) -> TrustDirectory:
    key = KeyEntry(
        key_id="k1",
        public_key="AA",
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=365),
    )
    return TrustDirectory(
        version=12,
        issued_at=NOW - timedelta(days=1),
        root_key_id="root-1",
        regions=tuple(
            RegionEntry(code=code, name=name, signing_keys=(key,), sealing_key=key)
            for code, name in ((A, "福建省"), (B, "广东省"), (C, "北京市"))
        ),
        valid_until=None if valid_for is None else NOW + valid_for,
    )


async def _outbox(
    conn: asyncpg.Connection,
    *,
    case_no: str | None = None,
    event_type: str = FORWARDED,
    to: str = B,
    age: timedelta,
    sent: bool = True,
    receipted: bool = False,
    failed_ago: timedelta | None = None,
    parked: bool = False,
) -> None:
    created = NOW - age
    await conn.execute(
        "INSERT INTO outbox (event_id, case_no, event_type, recipient_region, topic, envelope,"
        " created_at, sent_at, attempts, receipted_at, failed_at, parked_at, park_reason)"
        " VALUES ($1, $2, $3, $4, 'tongban.inbox.x', '\\x00', $5, $6, $7, $8, $9, $10, $11)",
        str(uuid.uuid4()),
        case_no or new_case_no(A),
        event_type,
        to,
        created,
        created if sent else None,
        5 if failed_ago else (1 if sent else 0),
        created + timedelta(seconds=1) if receipted else None,
        None if failed_ago is None else NOW - failed_ago,
        created if parked else None,
        "record_too_large" if parked else None,
    )


async def _inbox(
    conn: asyncpg.Connection,
    *,
    sender: str,
    age: timedelta,
    case_no: str | None = None,
    event_type: str = EventType.ACCEPTED.value,
    delivered: bool = True,
    undeliverable: bool = False,
) -> None:
    received = NOW - age
    await conn.execute(
        "INSERT INTO inbox (event_id, case_no, event_type, sender_region, envelope, topic,"
        " kafka_partition, kafka_offset, received_at, delivered_at, undeliverable_at)"
        " VALUES ($1, $2, $3, $4, '\\x00', 'tongban.inbox.x', 0, 0, $5, $6, $7)",
        str(uuid.uuid4()),
        case_no or new_case_no(A),
        event_type,
        sender,
        received,
        received if delivered and not undeliverable else None,
        received if undeliverable else None,
    )


async def _quarantine(conn: asyncpg.Connection, reason: str, age: timedelta) -> None:
    await conn.execute(
        "INSERT INTO quarantine (reason, detail, raw, raw_sha256, raw_length, topic,"
        " kafka_partition, kafka_offset, received_at, claimed_sender)"
        " VALUES ($1, 'test', '\\x00', sha256('\\x00'), 1, 'tongban.inbox.x', 0,"
        "  (SELECT coalesce(max(kafka_offset), 0) + 1 FROM quarantine), $2, $3)",
        reason,
        NOW - age,
        B,
    )


async def _case(
    conn: asyncpg.Connection, status: str, unchanged_for: timedelta, *, role: str = "origin"
) -> str:
    case_no = new_case_no(A)
    await conn.execute(
        "INSERT INTO cases (case_no, role, item_code, item_version, origin_region,"
        " processing_region, status, applicant_sealed, updated_at)"
        " VALUES ($1, $2, 'GG-00102-000', 1, $3, $4, $5, $6::text::jsonb, $7)",
        case_no,
        role,
        A,
        B,
        status,
        json.dumps({"sealed": "for the test"}),
        NOW - unchanged_for,
    )
    return case_no


def _peer(panel: health.ExchangeHealth, code: str) -> health.PeerHealth:
    [found] = [p for p in panel.peers if p.region == code]
    return found


async def test_an_idle_region_is_healthy(db: asyncpg.Connection) -> None:
    panel = await exchange_health(db, A, _directory(timedelta(days=30)), NOW)
    assert panel.level is Level.OK, panel.model_dump_json(indent=2)
    assert [p.region for p in panel.peers] == [C, B]  # the directory's others, by code
    assert panel.region_name == "福建省"
    assert _peer(panel, B).last_accepted.text_zh == "从未收到"
    assert panel.outbox_unsent.value == 0
    assert panel.outbox_oldest_unsent.value is None


async def test_the_panel_counts_each_situation_and_grades_it(db: asyncpg.Connection) -> None:
    # The outbox: one row unsent for twenty minutes, one parked.
    await _outbox(db, age=timedelta(minutes=20), sent=False)
    await _outbox(
        db, age=timedelta(hours=3), sent=False, parked=True, failed_ago=timedelta(hours=3)
    )
    # 广东: two forwarded events waiting for receipts (the older ten minutes), one receipted,
    # a receipt of ours (never receipted itself); and it was last heard from three minutes ago.
    await _outbox(db, age=timedelta(minutes=10))
    await _outbox(db, age=timedelta(minutes=2))
    await _outbox(db, age=timedelta(minutes=30), receipted=True)
    await _outbox(db, age=timedelta(hours=2), event_type=EventType.RECEIPT.value)
    await _inbox(db, sender=B, age=timedelta(hours=1))
    await _inbox(db, sender=B, age=timedelta(minutes=3), event_type=EventType.RECEIPT.value)
    # 北京: one event given up on two hours ago, one a week ago; nothing waiting, never heard.
    await _outbox(db, to=C, age=timedelta(hours=3), failed_ago=timedelta(hours=2))
    await _outbox(db, to=C, age=timedelta(days=8), failed_ago=timedelta(days=7))
    # A region the directory does not list sent something.
    await _inbox(db, sender="990000", age=timedelta(days=2))
    # Quarantine: three bad signatures and one malformed record today, one yesterday.
    for _ in range(3):
        await _quarantine(db, "bad-signature", timedelta(hours=1))
    await _quarantine(db, "malformed", timedelta(hours=5))
    await _quarantine(db, "malformed", timedelta(hours=30))
    # The inbox: one row a workflow refused, one waiting ten minutes for the dispatcher, one
    # received a moment ago.
    await _inbox(db, sender=B, age=timedelta(hours=2), undeliverable=True)
    await _inbox(db, sender=B, age=timedelta(minutes=10), delivered=False)
    await _inbox(db, sender=B, age=timedelta(seconds=5), delivered=False)

    panel = await exchange_health(db, A, _directory(timedelta(days=5)), NOW)

    assert panel.outbox_unsent.value == 1
    assert panel.outbox_unsent.level is Level.OK
    assert panel.outbox_oldest_unsent.value is not None
    assert panel.outbox_oldest_unsent.value >= 20 * 60
    assert panel.outbox_oldest_unsent.level is Level.ALERT
    assert (panel.outbox_parked.value, panel.outbox_parked.level) == (1, Level.NOTICE)

    guangdong = _peer(panel, B)
    assert guangdong.name == "广东省"
    assert guangdong.in_directory
    assert guangdong.unreceipted.value == 2
    assert guangdong.oldest_unreceipted.value == pytest.approx(600, abs=1)
    assert guangdong.oldest_unreceipted.text_zh == "10 分钟"
    assert guangdong.oldest_unreceipted.level is Level.NOTICE
    assert guangdong.unreceipted.level is Level.NOTICE
    # The parked row was given up on too (the relay marks it failed): an alarm while recent.
    assert (guangdong.failed.value, guangdong.failed.level) == (1, Level.ALERT)
    assert guangdong.last_accepted.text_zh == "5 秒"  # the newest inbox row, delivered or not
    assert guangdong.last_accepted.level is Level.OK
    assert guangdong.level is Level.ALERT

    beijing = _peer(panel, C)
    assert beijing.unreceipted.value == 0
    assert beijing.oldest_unreceipted.value is None
    assert (beijing.failed.value, beijing.failed.level) == (2, Level.ALERT)
    assert beijing.failed.text_zh == "2 条（近 24 小时 1 条）"
    assert beijing.last_accepted.value is None
    assert beijing.last_accepted.level is Level.OK

    stranger = _peer(panel, "990000")
    assert not stranger.in_directory
    assert stranger.name == "目录中无此地区"
    assert stranger.last_accepted.text_zh == "2 天"

    assert (panel.quarantined.value, panel.quarantined.level) == (4, Level.NOTICE)
    assert [(f.key, f.label_zh, f.value) for f in panel.quarantined_by_reason] == [
        ("quarantine.bad-signature", "签名无效", 3),
        ("quarantine.malformed", "格式错误", 1),
    ]

    assert panel.directory_version == 12
    assert panel.directory_time_left.level is Level.NOTICE
    assert panel.directory_time_left.text_zh == "剩余 5 天"
    assert (panel.inbox_undeliverable.value, panel.inbox_undeliverable.level) == (1, Level.NOTICE)
    assert (panel.inbox_waiting.value, panel.inbox_waiting.level) == (1, Level.NOTICE)
    assert panel.level is Level.ALERT


async def test_a_silent_peer_waited_on_and_an_expiring_directory_alarm(
    db: asyncpg.Connection,
) -> None:
    await _outbox(db, age=timedelta(minutes=1))  # waiting on 广东, which was never heard from
    soon = await exchange_health(db, A, _directory(timedelta(hours=20)), NOW)
    assert _peer(soon, B).last_accepted.level is Level.ALERT
    assert _peer(soon, B).oldest_unreceipted.level is Level.OK
    assert soon.directory_time_left.level is Level.ALERT
    assert soon.directory_time_left.text_zh == "剩余 20 小时"

    expired = await exchange_health(db, A, _directory(timedelta(hours=-3)), NOW)
    assert expired.directory_time_left.text_zh == "已过期 3 小时"
    assert expired.directory_time_left.value == pytest.approx(-3 * 3600)
    unset = await exchange_health(db, A, _directory(None), NOW)
    assert unset.directory_time_left.level is Level.ALERT
    assert unset.directory_time_left.value is None


async def test_stuck_cases_say_why(db: asyncpg.Connection) -> None:
    unchanged = await _case(db, "processing", timedelta(days=8))
    recall = await _case(db, "recall-requested", timedelta(hours=5))
    withdrawal = await _case(db, "withdrawal-requested", timedelta(hours=6))
    forwarded = await _case(db, "in-transit", timedelta(hours=2))
    await _outbox(db, case_no=forwarded, age=timedelta(hours=2))
    gave_up = await _case(db, "recall-requested", timedelta(minutes=10))
    await _outbox(db, case_no=gave_up, age=timedelta(hours=1), failed_ago=timedelta(minutes=10))
    refused = await _case(db, "processing", timedelta(hours=1), role="processing")
    await _inbox(db, sender=A, case_no=refused, age=timedelta(hours=1), undeliverable=True)
    # Not stuck: moving, answered in time, receipted, or closed however long ago.
    fresh = await _case(db, "processing", timedelta(hours=1))
    await _outbox(db, case_no=fresh, age=timedelta(hours=3), receipted=True)
    await _outbox(db, case_no=fresh, age=timedelta(minutes=20))
    await _case(db, "recall-requested", timedelta(hours=1))
    closed = await _case(db, "closed", timedelta(days=30))
    await _outbox(db, case_no=closed, age=timedelta(days=30), failed_ago=timedelta(days=29))
    await _case(db, "closed", timedelta(days=30), role="processing")

    found = {c.case_no: c for c in await stuck_cases(db, A, NOW)}

    assert set(found) == {unchanged, recall, withdrawal, forwarded, gave_up, refused}
    codes = {case_no: [r.code for r in c.reasons] for case_no, c in found.items()}
    assert codes == {
        unchanged: ["unchanged"],
        recall: ["unanswered"],
        withdrawal: ["unanswered"],
        forwarded: ["unreceipted"],
        gave_up: ["gave-up"],
        refused: ["undeliverable"],
    }
    assert found[unchanged].why_zh == "「办理中」状态已 8 天 未变化"
    assert found[unchanged].status_label_zh == "办理中"
    assert found[recall].why_zh == "已请求办理地撤销（收回），办理地 5 小时 未答复"
    assert found[withdrawal].why_zh.startswith("申请人已撤回，办理地 6 小时")
    assert found[forwarded].why_zh == f"发往 {B} 的「转办」已 2 小时 无回执"
    assert found[gave_up].why_zh == f"发往 {B} 的「转办」重发 5 次仍无回执，已放弃"
    assert found[refused].why_zh == f"收到 {A} 的「受理」无法交给案件流程"
    assert found[refused].side == "processing"
    # The longest unchanged first.
    assert next(iter(found)) == unchanged

    # Thresholds are the caller's: a tighter one finds the case that moved an hour ago.
    tighter = await stuck_cases(
        db, A, NOW, thresholds=StuckThresholds(unchanged_after=timedelta(minutes=30))
    )
    assert fresh in {c.case_no for c in tighter}


async def _start_case_workflow(
    client: Client, *, deadline: datetime | None, overdue: bool
) -> WorkflowHandle[Any, Any]:
    """A running intake workflow with the case's search attributes, on a task queue no worker
    polls: visibility finds it as it finds a real case."""
    case_no = new_case_no(A)
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(CASE_NO, case_no),
        SearchAttributePair(ITEM_CODE, "GG-00102-000"),
        SearchAttributePair(ORIGIN_REGION, A),
        SearchAttributePair(PROCESSING_REGION, B),
        SearchAttributePair(CASE_STATUS, "processing"),
        SearchAttributePair(OVERDUE, overdue),
    ]
    if deadline is not None:
        pairs.append(SearchAttributePair(DEADLINE, deadline))
    return await client.start_workflow(
        "IntakeWorkflow",
        id=intake_workflow_id(case_no),
        task_queue=f"tongban-health-test-nobody-{secrets.token_hex(4)}",
        search_attributes=TypedSearchAttributes(pairs),
    )


async def test_overdue_cases_from_the_search_attributes(
    db: asyncpg.Connection, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    client = await temporal_client(stack_settings, stack, A)
    marked = await _start_case_workflow(client, deadline=NOW - timedelta(days=2), overdue=True)
    unmarked = await _start_case_workflow(client, deadline=NOW - timedelta(hours=3), overdue=False)
    in_time = await _start_case_workflow(client, deadline=NOW + timedelta(days=3), overdue=False)
    no_deadline = await _start_case_workflow(client, deadline=None, overdue=False)
    handles = [marked, unmarked, in_time, no_deadline]
    try:

        async def found() -> list[AttentionCase]:
            return [c for c in await overdue_cases(client, db, A, NOW) if c.case_no in mine]

        mine = {h.id.removeprefix("intake-") for h in handles}
        cases = await eventually(
            found, what="both overdue cases listed", until=lambda cs: len(cs) == 2
        )
        # The longest overdue first; each says why.
        assert [c.case_no for c in cases] == [
            marked.id.removeprefix("intake-"),
            unmarked.id.removeprefix("intake-"),
        ]
        first, second = cases
        assert [r.code for r in first.reasons] == ["overdue"]
        assert first.why_zh.startswith("已超过承诺时限（时限 ")
        assert first.why_zh.endswith("已超期 2 天")
        assert [r.code for r in second.reasons] == ["past-deadline"]
        assert "流程尚未标记超期" in second.why_zh
        assert "已超期 3 小时" in second.why_zh
        assert first.side == "origin"
        assert first.status_label_zh == "办理中"
        assert first.processing_region == B
        # A terminated (closed) workflow is not listed any more.
        await marked.terminate(reason="test over")
        await eventually(
            found,
            what="the closed case gone from the list",
            until=lambda cs: [c.case_no for c in cs] == [unmarked.id.removeprefix("intake-")],
        )
    finally:
        for handle in handles:
            with contextlib.suppress(RPCError):
                await handle.terminate(reason="test over")
