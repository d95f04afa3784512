"""The console's 好差评 page (decision 0039): the region's report for a period, read by the
same counting as `tongban ratings report`; operators only; a bad period is refused by rule."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from console import rating_pages
from console.sessions import MemorySessionStore
from events.credentials import RegionCredentials
from events.keystore import KeyStore
from events.stores.ratings import RatingRow
from regions.tokens import Role, TokenStore
from tests.support.console import Clock, console_app, console_client, issue, sign_in
from tests.unit.test_ratings_report import _rows

A, B = "350000", "440000"


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    store = KeyStore(tmp_path_factory.mktemp("trust"))
    store.bootstrap(
        {A: ("福建省", None), B: ("广东省", None)},
        validity=timedelta(days=30),
        now=datetime.now(UTC) - timedelta(days=1),
    )
    return store


@pytest.fixture
async def console(
    keystore: KeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncClient, TokenStore, Clock, list[tuple[date, date]]]]:
    clock = Clock(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    tokens = TokenStore(tmp_path / "tokens")
    app = console_app(
        B,
        tokens=tokens,
        sessions=MemorySessionStore(),
        credentials=RegionCredentials(keystore, B),
        clock=clock,
    )
    asked: list[tuple[date, date]] = []

    async def read_rows(
        svc: Any, since: date, until: date
    ) -> tuple[list[RatingRow], dict[str, int]]:
        assert svc.region == B
        asked.append((since, until))
        return _rows(), {"done": 2, "dead": 1}

    monkeypatch.setattr(rating_pages, "read_rows", read_rows)
    async with console_client(app) as http:
        yield http, tokens, clock, asked


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_report_of_a_period_in_chinese(
    console: tuple[AsyncClient, TokenStore, Clock, list[tuple[date, date]]],
) -> None:
    http, tokens, clock, asked = console
    await sign_in(http, issue(tokens, B, Role.OPERATOR, clock=clock))
    page = await http.get("/console/operators/ratings?from=2026-11-01&to=2026-11-30")
    assert page.status_code == 200, page.text
    assert asked == [(date(2026, 11, 1), date(2026, 11, 30))]
    shown = _text(page.text)
    assert "评价 6 件，申诉复核撤销 1 件" in shown
    assert "非常满意 满意 基本满意 不满意 非常不满意" in shown
    assert "办理地 1 0 0 2 2" in shown
    assert (
        "差评 4 件：按时整改答复 1，超时答复 1，办理中 2（已超期 1），曾升级 1；按时率 50.0%"
        in shown
    )
    assert "邀评 3 件：已发送 2，未能发送 1，待发送 0" in shown
    assert 'aria-current="page">好差评' in page.text


async def test_without_dates_it_is_this_month_so_far_in_beijing_time(
    console: tuple[AsyncClient, TokenStore, Clock, list[tuple[date, date]]],
) -> None:
    http, tokens, clock, asked = console
    clock.now = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 2026-12-01 01:00 in Beijing
    await sign_in(http, issue(tokens, B, Role.OPERATOR, clock=clock))
    assert (await http.get("/console/operators/ratings")).status_code == 200
    assert asked == [(date(2026, 12, 1), date(2026, 12, 1))]


async def test_a_bad_period_is_refused_naming_the_rule(
    console: tuple[AsyncClient, TokenStore, Clock, list[tuple[date, date]]],
) -> None:
    http, tokens, clock, asked = console
    await sign_in(http, issue(tokens, B, Role.OPERATOR, clock=clock))
    for query, rule in (
        ("from=2026-12-31&to=2026-12-01", "bad_period"),
        ("from=12/01", "bad_date"),
    ):
        page = await http.get(f"/console/operators/ratings?{query}")
        assert page.status_code == 422, query
        assert rule in page.text
    assert asked == []


async def test_only_operators_open_the_page(
    console: tuple[AsyncClient, TokenStore, Clock, list[tuple[date, date]]],
) -> None:
    http, tokens, clock, asked = console
    await sign_in(http, issue(tokens, B, Role.PROCESSING_OFFICER, clock=clock))
    page = await http.get("/console/operators/ratings")
    assert page.status_code == 403
    assert asked == []
