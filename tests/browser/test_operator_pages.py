"""The 运维 pages in a real browser, on the local stack: a case is taken from 福建 (350000) to
广东 (440000) through the window and office API; an operator at 350000 finds it with the case
search, opens its swimlane (both regions' lanes: on the local stack the node reads both), sees
the exchange health panel, finds a dead-letter effect of the case and records it done by other
means with the form (CSRF and all; the operator's 工号 kept with the action). Roles: an
operator opens no window or office page, a clerk no operators' page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.stack.settings import StackEndpoints, region_dsn
from regions.demo import synthetic_id_number
from regions.tokens import Role
from regions.window import material_ref
from tests.browser.console import ConsoleBrowser, no_problems, screenshot
from tests.integration.api_nodes import API, CARRIED, ITEM, ApiPair, auth
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
OPERATOR = ("T-OPS", "测试运维人员")
NOTE = "已在窗口现金退费，收据 0001"


async def _until(client: httpx.AsyncClient, path: str, token: str, status: str) -> None:
    async def view() -> Any:
        answer = await client.get(path, headers=auth(token))
        return answer.json()["summary"]["status"] if answer.status_code == 200 else None

    await eventually(view, until=lambda s: s == status, timeout=60, every=0.3, what=status)


@pytest.fixture(scope="module")
async def case_no(console_nodes: ApiPair) -> str:
    """A case forwarded by 350000 and accepted by 440000, through the API."""
    clerk = console_nodes.token(A, Role.WINDOW_CLERK)
    officer = console_nodes.token(B, Role.PROCESSING_OFFICER)
    body = {
        "item_code": ITEM,
        "processing_region": B,
        "applicant_name": "王小明",
        "applicant_id_number": synthetic_id_number(serial="731"),
        "applicant_phone": "13800000000",
        "materials": [material_ref(name).model_dump() for name in CARRIED],
    }
    async with (
        httpx.AsyncClient(base_url=API[A], timeout=60) as a,
        httpx.AsyncClient(base_url=API[B], timeout=60) as b,
    ):
        submitted = await a.post("/window/cases", json=body, headers=auth(clerk))
        assert submitted.status_code == 201, submitted.text
        number: str = submitted.json()["case_no"]
        await _until(a, f"/cases/{number}", clerk, "formal-review")
        review = await a.post(
            f"/window/cases/{number}/formal-review", json={"outcome": "pass"}, headers=auth(clerk)
        )
        assert review.status_code == 200, review.text
        await _until(b, f"/cases/{number}", officer, "received")
        accepted = await b.post(
            f"/office/cases/{number}/acceptance", json={"accept": True}, headers=auth(officer)
        )
        assert accepted.status_code == 200, accepted.text
        await _until(b, f"/cases/{number}", officer, "processing")
    return number


@pytest.fixture
async def dead_letter(stack: StackEndpoints, case_no: str) -> AsyncIterator[int]:
    """An effect of the case that 350000's bank system never took (as the effect activity
    leaves one after its last attempt)."""
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        effect_id: int = await conn.fetchval(
            "INSERT INTO effect_orders (case_no, key, effect, amount_fen, detail, adapter, state,"
            " attempts, reason) VALUES ($1, 'console-refund', 'refund-fee', 1500, 'test', 'bank',"
            " 'dead', 5, 'HTTP 503 five times') RETURNING id",
            case_no,
        )
        yield effect_id
    finally:
        await conn.close()


async def test_an_operator_finds_a_case_sees_both_lanes_and_resolves_a_dead_letter(
    console: ConsoleBrowser, case_no: str, dead_letter: int, stack: StackEndpoints
) -> None:
    operator = await console.signed_in(A, Role.OPERATOR, person=OPERATOR)
    page = operator.page
    with no_problems(operator):  # no script error, no CSP violation, nothing failed to load
        # The exchange health panel is the section's first page.
        assert page.url.endswith("/console/operators/")
        heading = page.get_by_role("heading", level=1)
        assert "交换健康状况" in await heading.inner_text()
        assert await page.get_by_role("heading", name="发件箱").count() == 1
        assert await page.get_by_role("heading", name="信任目录").count() == 1
        peer = page.locator("section.health-section", has_text=f"对端 {B} 广东省")
        assert "距上次收到记录" in await peer.inner_text()

        # Case search, with the case-list filters, in both regions the node can read.
        await page.get_by_role("link", name="案件查询").click()
        await page.get_by_label("事项编码").fill(ITEM)
        await page.get_by_label("办理地（地区代码）").fill(B)
        await page.get_by_label("查询范围").select_option("all")
        await page.get_by_role("button", name="查询").click()
        await page.wait_for_url("**/console/operators/cases?*")
        rows = page.locator("table.cases tbody tr", has_text=case_no)
        lanes = {(await row.locator("td").nth(1).inner_text()).strip() for row in await rows.all()}
        assert lanes == {A, B}, "one row per region's workflow of the case"

        # The swimlane: both regions' lanes, read by the node at 350000.
        await rows.first.get_by_role("link", name=case_no).click()
        await page.wait_for_url(f"**/console/operators/cases/{case_no}")
        assert await page.locator(".swimlane-page[data-rendered=ok]").count() == 1
        assert await page.locator(".lane-unreadable").count() == 0
        assert await page.locator(".swimlane svg g.entry").count() > 4
        table = await page.locator("table.timeline").inner_text()
        assert f"A {A}" in table
        assert f"B {B}" in table
        assert "已接收（待受理） (received)" in table  # B's step, as B names it
        assert "测试办理人员" in table  # the officer who accepted, from B's records
        assert "sent forwarded" in table
        await screenshot(page, "operators-swimlane")

        # The dead letter, resolved by the form with a note.
        await page.get_by_role("link", name="执行失败事项").click()
        row = page.locator(f"#effect-{dead_letter}")
        assert "多次失败" in await row.inner_text()
        assert "¥15.00" in await row.inner_text()
        await row.get_by_label(f"第 {dead_letter} 号的办理说明").fill(NOTE)
        await row.get_by_role("button", name="记为人工办结").click()
        await page.wait_for_url(f"**/console/operators/effects?done=resolved&effect={dead_letter}")
        notice = page.get_by_role("status")
        assert f"已将第 {dead_letter} 号事项记为人工办结" in await notice.inner_text()
        assert await page.locator(f"#effect-{dead_letter}").count() == 0

    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        order = await conn.fetchrow(
            "SELECT state, reason FROM effect_orders WHERE id = $1", dead_letter
        )
        actor = await conn.fetchval(
            "SELECT actor FROM effect_attempts WHERE order_id = $1 AND outcome = 'resolved'",
            dead_letter,
        )
    finally:
        await conn.close()
    assert order is not None
    assert (order["state"], order["reason"], actor) == ("resolved", NOTE, OPERATOR[0])


async def test_an_operator_opens_no_window_or_office_page_and_a_clerk_no_operators_page(
    console: ConsoleBrowser,
) -> None:
    operator = await console.signed_in(A, Role.OPERATOR, person=OPERATOR)
    for path in ("/console/window/", "/console/office/"):
        answer = await operator.page.goto(path)
        assert answer is not None
        assert answer.status == 403, path
        assert await operator.page.get_by_role("heading", name="无权打开此页面").count() == 1
    clerk = await console.signed_in(A, Role.WINDOW_CLERK)
    nav = clerk.page.get_by_role("navigation", name="工作栏目")
    assert await nav.get_by_role("link", name="运维").count() == 0
    for path in ("/console/operators/", "/console/operators/cases", "/console/operators/effects"):
        answer = await clerk.page.goto(path)
        assert answer is not None
        assert answer.status == 403, path
        assert "此页面只供运维人员使用" in await clerk.page.locator("main").inner_text()


async def test_an_operator_at_the_processing_region_sees_the_same_case(
    console: ConsoleBrowser, case_no: str
) -> None:
    operator = await console.signed_in(B, Role.OPERATOR, person=("T-OPS-B", "广东运维人员"))
    page = operator.page
    with no_problems(operator):
        await page.goto(f"/console/operators/cases/{case_no}")
        assert await page.locator(".lane-unreadable").count() == 0
        table = await page.locator("table.timeline").inner_text()
        assert f"A {A}" in table  # 福建's lane, read by the node at 440000
        assert "测试窗口人员" in table  # the clerk who passed the formal review
        assert f"B {B}" in table
