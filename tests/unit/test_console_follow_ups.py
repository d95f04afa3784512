"""The console's 差评整改 pages (decision 0039): a window clerk sees the open 差评 of A's 收件,
a processing officer those of B's 办结, each with its deadlines; their forms record 回访 and
整改 through `regions.ratings.record_follow_up`, the API's own function, and a refusal comes
back as the page with the rule and what was typed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from console import follow_up_pages
from console.sessions import MemorySessionStore
from events.credentials import RegionCredentials
from events.keystore import KeyStore
from events.ratings import RatingRefused
from events.stores.ratings import RatingRow
from regions.tokens import Principal, Role, TokenStore
from tests.support.console import Clock, console_app, console_client, csrf_of, issue, sign_in
from tests.unit.test_ratings_report import BASE

A, B = "350000", "440000"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
REVISIT_OPEN = replace(
    BASE,
    rating_id="11111111-1111-5111-8111-111111111111",
    case_no="350000-20261120-REVISITA",
    step="received",
    level=2,
    side="A",
    responsible_region=A,
    revisit_due=NOW - timedelta(hours=2),  # missed: escalated
    rectify_due=NOW + timedelta(days=10),
    escalations=("revisit",),
)
RECTIFY_OPEN = replace(
    REVISIT_OPEN,
    rating_id="22222222-2222-5222-8222-222222222222",
    case_no="350000-20261121-RECTIFYA",
    level=1,
    revisited_at=NOW - timedelta(days=1),
    escalations=(),
)


@dataclass
class Desk:
    """What the pages read and record, as the test sees it."""

    rows: dict[str, list[RatingRow]]
    recorded: list[tuple[Principal, str, str, str, str | None]] = field(default_factory=list)
    refuse: RatingRefused | None = None


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
) -> AsyncIterator[tuple[AsyncClient, TokenStore, Clock, Desk]]:
    clock = Clock(NOW)
    tokens = TokenStore(tmp_path / "tokens")
    app = console_app(
        A,
        tokens=tokens,
        sessions=MemorySessionStore(),
        credentials=RegionCredentials(keystore, A),
        clock=clock,
    )
    desk = Desk(rows={"A": [REVISIT_OPEN, RECTIFY_OPEN], "B": []})

    async def open_rows(svc: Any, side: str) -> list[RatingRow]:
        assert svc.region == A
        return desk.rows[side]

    async def record(
        _desk: Any,
        caller: Principal,
        rid: str,
        stage: str,
        note: str,
        answer: str | None = None,
    ) -> str:
        if desk.refuse is not None:
            raise desk.refuse
        desk.recorded.append((caller, rid, stage, note, answer))
        return stage

    monkeypatch.setattr(follow_up_pages, "_open", open_rows)
    monkeypatch.setattr(follow_up_pages, "record_follow_up", record)
    async with console_client(app) as http:
        yield http, tokens, clock, desk


async def test_a_clerk_sees_as_open_follow_ups_with_their_deadlines(
    console: tuple[AsyncClient, TokenStore, Clock, Desk],
) -> None:
    http, tokens, clock, _ = console
    await sign_in(http, issue(tokens, A, Role.WINDOW_CLERK, clock=clock))
    page = await http.get("/console/window/ratings")
    assert page.status_code == 200, page.text
    assert "差评整改" in page.text
    assert "收件 不满意" in page.text
    assert "收件 非常不满意" in page.text
    assert "已升级：回访" in page.text
    assert "已超期" in page.text  # 回访 of the first is past due
    # Each shows the form of the stage open now: 回访 for one, 整改 with the answer for the other.
    assert f"{REVISIT_OPEN.rating_id}/revisit" in page.text
    assert f"{RECTIFY_OPEN.rating_id}/rectify" in page.text
    assert f"{REVISIT_OPEN.rating_id}/rectify" not in page.text
    assert 'aria-current="page">差评整改' in page.text


async def test_the_forms_record_through_the_apis_function_as_the_signed_in_person(
    console: tuple[AsyncClient, TokenStore, Clock, Desk],
) -> None:
    http, tokens, clock, desk = console
    await sign_in(http, issue(tokens, A, Role.WINDOW_CLERK, clock=clock))
    csrf = csrf_of((await http.get("/console/window/ratings")).text)
    done = await http.post(
        f"/console/window/ratings/{REVISIT_OPEN.rating_id}/revisit",
        data={"csrf": csrf, "note": "已电话回访"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/console/window/ratings?done=revisit"
    fixed = await http.post(
        f"/console/window/ratings/{RECTIFY_OPEN.rating_id}/rectify",
        data={"csrf": csrf, "note": "补发指南", "answer": "已整改，感谢监督。"},
        follow_redirects=False,
    )
    assert fixed.status_code == 303
    [(clerk, rid1, stage1, note1, answer1), (_, rid2, stage2, note2, answer2)] = desk.recorded
    assert (clerk.role, clerk.person_name, clerk.region) == (Role.WINDOW_CLERK, "林晓燕", A)
    assert (rid1, stage1, note1, answer1) == (REVISIT_OPEN.rating_id, "revisit", "已电话回访", None)
    assert (rid2, stage2, note2, answer2) == (
        RECTIFY_OPEN.rating_id,
        "rectify",
        "补发指南",
        "已整改，感谢监督。",
    )
    shown = await http.get("/console/window/ratings?done=rectify")
    assert "整改已记录" in shown.text


async def test_an_incomplete_form_or_a_refused_step_comes_back_with_the_rule(
    console: tuple[AsyncClient, TokenStore, Clock, Desk],
) -> None:
    http, tokens, clock, desk = console
    await sign_in(http, issue(tokens, A, Role.WINDOW_CLERK, clock=clock))
    csrf = csrf_of((await http.get("/console/window/ratings")).text)
    no_answer = await http.post(
        f"/console/window/ratings/{RECTIFY_OPEN.rating_id}/rectify",
        data={"csrf": csrf, "note": "补发指南"},
    )
    assert no_answer.status_code == 422
    assert "note_required" in no_answer.text
    assert desk.recorded == []

    desk.refuse = RatingRefused(409, "follow_up_step_not_open", "整改 is not open")
    refused = await http.post(
        f"/console/window/ratings/{REVISIT_OPEN.rating_id}/rectify",
        data={"csrf": csrf, "note": "补发指南", "answer": "已整改"},
    )
    assert refused.status_code == 409
    assert "follow_up_step_not_open" in refused.text
    assert "补发指南" in refused.text  # what was typed is kept

    forged = await http.post(
        f"/console/window/ratings/{REVISIT_OPEN.rating_id}/revisit",
        data={"csrf": "not-the-sessions", "note": "x"},
    )
    assert forged.status_code == 403


async def test_each_side_opens_its_own_page(
    console: tuple[AsyncClient, TokenStore, Clock, Desk],
) -> None:
    http, tokens, clock, _ = console
    await sign_in(http, issue(tokens, A, Role.PROCESSING_OFFICER, clock=clock))
    office = await http.get("/console/office/ratings")
    assert office.status_code == 200
    assert "没有待整改的差评" in office.text  # B's 办结 ratings: none answered for here
    assert (await http.get("/console/window/ratings")).status_code == 403
