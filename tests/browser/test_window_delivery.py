"""The window confirms a result delivered by post in the console (issue 18 item 2: "confirming
result delivery (window / post with tracking number / online)"; the end-to-end test confirms at
the window only). A case goes to 广东 (440000) and is approved there through the API; the clerk
at 福建 (350000) chooses 邮寄 and sends no tracking number: the page says the number is needed,
keeps the choice, and the case still waits for its delivery. With the number the case ends 办结,
the 送达回证 A issues names the post and the number, and the clerk's 打印 link opens that same
signed PDF inline (no other test opens the print route with the clerk's session)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from deploy.stack.settings import StackEndpoints, StackSettings
from regions.tokens import Role
from tests.browser.console import ConsoleBrowser, no_problems
from tests.browser.test_console_end_to_end import (
    listed,
    manual_pair,
    pdf_text,
    until_window_status,
    window_status,
)
from tests.browser.test_office_pages import TIMEOUT, forwarded_case, pdf_file, png_file, status_at
from tests.integration.api_nodes import API, ApiPair, auth
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
TRACKING_NO = "EA123456789CN"


@pytest.fixture(scope="module")
async def console_nodes(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiPair]:
    """People decide every step, on real working days: nothing moves the case on its own."""
    async with manual_pair(stack, stack_settings, tmp_path_factory.mktemp("tokens")) as nodes:
        yield nodes


async def _approved_at_b(nodes: ApiPair) -> str:
    files = {"居民身份证": pdf_file("ID card by post"), "社会保障卡申领登记表": png_file()}
    case_no = await forwarded_case(nodes, files, serial="734")
    officer = nodes.token(B, Role.PROCESSING_OFFICER)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        for step, body in (
            ("acceptance", {"accept": True}),
            ("decision", {"approve": True, "reason": "材料齐全，准予办理。"}),
        ):
            answer = await http.post(
                f"{API[B]}/office/cases/{case_no}/{step}", json=body, headers=auth(officer)
            )
            assert answer.status_code == 200, answer.text
    await eventually(
        lambda: status_at(nodes, A, case_no),
        until=lambda s: s == "result-received",
        what="the approval at A",
    )
    return case_no


async def _service_receipt(nodes: ApiPair, case_no: str) -> bytes:
    clerk = nodes.token(A, Role.WINDOW_CLERK)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:

        async def listed() -> list[str]:
            answer = await http.get(f"{API[A]}/cases/{case_no}/documents", headers=auth(clerk))
            assert answer.status_code == 200, answer.text
            return [str(d["number"]) for d in answer.json() if d["title"] == "送达回证"]

        [number] = await eventually(listed, until=bool, what="the 送达回证 at A")
        pdf = await http.get(f"{API[A]}/cases/{case_no}/documents/{number}", headers=auth(clerk))
        assert pdf.status_code == 200, pdf.text[:300]
        return pdf.content


async def test_a_result_delivered_by_post_needs_its_tracking_number(
    console: ConsoleBrowser,
) -> None:
    case_no = await _approved_at_b(console.nodes)
    clerk = await console.signed_in(A, Role.WINDOW_CLERK)
    page = clerk.page
    with no_problems(clerk):
        await until_window_status(clerk, case_no, "已收到结果")
        await page.get_by_label("邮寄（须填写邮件单号）").check()

    # Refused: the page answers 422 (which the browser reports), outside the check.
    async with page.expect_response(re.compile(rf"/cases/{case_no}/delivery$")) as sent:
        await page.get_by_role("button", name="确认送达").click()
    assert (await sent.value).status == 422
    refusal = page.locator("div.refusal")
    await refusal.wait_for()
    assert "邮寄送达须填写邮件单号" in await refusal.inner_text()
    assert await page.get_by_label("邮寄（须填写邮件单号）").is_checked()  # the choice kept
    assert await window_status(page) == "已收到结果"  # nothing recorded
    assert await status_at(console.nodes, A, case_no) == "result-received"

    with no_problems(clerk):
        await page.get_by_label("邮件单号（邮寄时填写）").fill(TRACKING_NO)
        await page.get_by_role("button", name="确认送达").click()
        await page.wait_for_url(re.compile(rf"/cases/{case_no}\?done=delivery$"))
        assert await window_status(page) == "办结"

    receipt = await _service_receipt(console.nodes, case_no)
    assert receipt.startswith(b"%PDF")
    text = await asyncio.to_thread(pdf_text, receipt)
    assert text is not None, "pdftotext (poppler-utils) is needed to read the 送达回证"
    flat = "".join(text.split())
    for words in ("送达回证", case_no, "邮寄送达", TRACKING_NO):
        assert words in flat, words

    # The clerk prints it from the case page: the same signed PDF, opened in the browser.
    printing = page.get_by_label("打印 送达回证")
    await listed(page, printing, "the 送达回证 on the window's case page")
    href = await printing.get_attribute("href")
    assert href is not None
    printed = await page.request.get(href)
    assert printed.status == 200
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.headers["content-disposition"].startswith("inline")
    assert await printed.body() == receipt
    await eventually(
        lambda: status_at(console.nodes, B, case_no),
        until=lambda s: s == "closed",
        timeout=60,
        what="the case closed at 440000",
    )
