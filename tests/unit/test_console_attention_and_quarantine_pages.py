"""The operators' 超期与滞留 and 隔离区 pages as an operator opens them (issue 18 item 4; the
other console tests open them only to be refused without a session or with another role).
The lists come from operators.attention / operators.quarantine / operators.parked, whose
queries are tested on Postgres (tests/integration/test_exchange_health.py); here, what the page
makes of them: each case linked with its side, status name and why, each refused record with
its reason's Chinese name, each parked event with its case, and an empty list said so."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from console import operator_pages as ops
from console.sessions import MemorySessionStore
from events.credentials import RegionCredentials
from events.keystore import KeyStore
from events.relay import PARK_TOO_LARGE
from operators.attention import AttentionCase, AttentionReason
from regions.tokens import Role, TokenStore
from tests.support.console import Clock, console_app, console_client, issue, sign_in

A, B = "350000", "440000"
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
LATE, IDLE, PARKED = "350000-20261120-000011", "350000-20261118-000012", "350000-20261126-000013"


class _Pool:
    """The pages take one connection; the stand-ins below never use it."""

    def acquire(self) -> Any:
        class _Conn:
            async def __aenter__(self) -> object:
                return object()

            async def __aexit__(self, *exc: object) -> None:
                return None

        return _Conn()


def _case(case_no: str, status: str, code: Any, why: str, **extra: Any) -> AttentionCase:
    return AttentionCase(
        case_no=case_no,
        region=A,
        side="origin",
        status=status,
        item_code="GG-00102-000",
        origin_region=A,
        processing_region=B,
        deadline=extra.get("deadline"),
        last_change=extra.get("last_change", NOW - timedelta(days=9)),
        reasons=(AttentionReason(code=code, why_zh=why),),
    )


def _app(tmp_path: Path) -> tuple[FastAPI, TokenStore, Clock]:
    """350000's node app, its Temporal and pool stand-ins never reached by these pages."""
    keystore = KeyStore(tmp_path / "trust")
    regions = {A: ("福建省", None), B: ("广东省", None)}
    keystore.bootstrap(regions, validity=timedelta(days=30), now=NOW - timedelta(days=1))
    clock = Clock(NOW)
    tokens = TokenStore(tmp_path / "tokens")
    app = console_app(
        A,
        tokens=tokens,
        sessions=MemorySessionStore(),
        credentials=RegionCredentials(keystore, A),
        clock=clock,
        pool=_Pool(),
        client=object(),
    )
    return app, tokens, clock


@pytest.fixture
async def operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncClient, dict[str, list[Any]]]]:
    app, tokens, clock = _app(tmp_path)
    lists: dict[str, list[Any]] = {
        "overdue": [], "stuck": [], "inbound": [], "by_sender": [], "parked": [],
    }  # fmt: skip

    async def overdue(client: Any, conn: Any, region: str, now: datetime) -> list[Any]:
        assert (region, now) == (A, NOW)
        return lists["overdue"]

    async def stuck(conn: Any, region: str, now: datetime) -> list[Any]:
        assert (region, now) == (A, NOW)
        return lists["stuck"]

    async def inbound(conn: Any) -> list[Any]:
        return lists["inbound"]

    async def by_sender(conn: Any, since: datetime) -> list[Any]:
        assert since < NOW
        return lists["by_sender"]

    async def parked(conn: Any) -> list[Any]:
        return lists["parked"]

    monkeypatch.setattr(ops, "overdue_cases", overdue)
    monkeypatch.setattr(ops, "stuck_cases", stuck)
    monkeypatch.setattr(ops, "quarantined_records", inbound)
    monkeypatch.setattr(ops, "refused_by_sender", by_sender)
    monkeypatch.setattr(ops, "parked_records", parked)
    async with console_client(app) as http:
        signed = await sign_in(
            http, issue(tokens, A, Role.OPERATOR, clock=clock, person=("OPS-007", "王运维"))
        )
        assert signed.status_code == 303
        yield http, lists


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_overdue_and_stuck_cases_are_linked_with_their_status_and_why(
    operator: tuple[AsyncClient, dict[str, list[Any]]],
) -> None:
    http, lists = operator
    empty = await http.get("/console/operators/attention")
    assert empty.status_code == 200
    assert "没有超期的案件。" in empty.text
    assert "没有滞留的案件。" in empty.text

    lists["overdue"] = [
        _case(LATE, "processing", "overdue", "已超过承诺时限", deadline=NOW - timedelta(days=2))
    ]
    lists["stuck"] = [_case(IDLE, "forwarded", "unreceipted", "发往广东省的事件没有回执")]
    page = await http.get("/console/operators/attention")
    assert page.status_code == 200
    text = _text(page.text)
    for case_no in (LATE, IDLE):
        assert f'href="/console/operators/cases/{case_no}"' in page.text
    assert "已超过承诺时限" in text
    assert "发往广东省的事件没有回执" in text
    assert "没有超期的案件。" not in text
    assert "没有滞留的案件。" not in text


async def test_quarantined_records_and_parked_events_are_listed_by_name(
    operator: tuple[AsyncClient, dict[str, list[Any]]],
) -> None:
    http, lists = operator
    lists["by_sender"] = [
        {
            "sender": B,
            "reason": "bad-signature",
            "records": 3,
            "bytes": 2048,
            "last_at": NOW.isoformat(),
        }
    ]
    lists["inbound"] = [
        {
            "id": 17,
            "received_at": (NOW - timedelta(minutes=5)).isoformat(),
            "reason": "bad-signature",
            "detail": "signature by k-440000-2 does not verify",
            "claimed_sender": B,
            "topic": f"tongban.inbox.{A}",
            "partition": 0,
            "offset": 421,
            "bytes": 900,
            "bytes_kept": 900,
            "sha256": "ab" * 32,
            "redriven_at": None,
        }
    ]
    lists["parked"] = [
        {
            "parked_at": (NOW - timedelta(hours=1)).isoformat(),
            "case_no": PARKED,
            "event_type": "forwarded",
            "recipient": B,
            "reason": PARK_TOO_LARGE,
            "detail": "envelope over the outbox budget",
            "bytes": 9_000_000,
            "event_id": "e" * 32,
        }
    ]
    page = await http.get("/console/operators/quarantine")
    assert page.status_code == 200
    text = _text(page.text)
    assert "签名无效" in text  # the reason by its Chinese name
    assert "signature by k-440000-2 does not verify" in text
    assert "421" in text
    assert "2026-11-27 09:55:00" in text  # received at 01:55 UTC, shown in Beijing time
    assert f'href="/console/operators/cases/{PARKED}"' in page.text
    assert "过大，无法发送" in text


async def test_a_clerk_opens_neither_page(tmp_path: Path) -> None:
    app, tokens, clock = _app(tmp_path)
    async with console_client(app) as http:
        await sign_in(http, issue(tokens, A, Role.WINDOW_CLERK, clock=clock))
        for path in ("/console/operators/attention", "/console/operators/quarantine"):
            answer = await http.get(path)
            assert answer.status_code == 403, path
