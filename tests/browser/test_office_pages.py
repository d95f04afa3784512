"""The office (办理) pages in a real browser: cases forwarded from 福建 (350000) to 广东 (440000)
through the window API (files uploaded, formal review passed), then an officer at 440000 works
them in Chromium: sees the case in the queue with its acceptance clock, opens the case file,
previews a PDF and a PNG in the page's frame, accepts, downloads the 受理通知书 and approves; a
second case gets a 补正 request with the complete list; a third is not accepted, with the reason.

The pair runs on real working days (the holiday calendar) and long answer times, so nothing
happens to a case on its own while the browser works it (with the harness's fast clock a case
unanswered for 8 seconds is recalled by A).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from deploy.stack.settings import StackEndpoints, StackSettings
from regions.local import ensure_local_keys
from regions.policies import MANUAL, CasePolicies
from regions.tokens import Role, TokenStore
from tests.browser.console import ConsoleBrowser, ConsolePage, no_problems, screenshot
from tests.integration.api_nodes import API, API_PORT_BASE, ITEM, ApiPair, auth, wait_for_api
from tests.integration.pair import start_pair
from tests.waiting import eventually
from workflows.models import CaseTimings

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
# People decide every step; real working days; A waits its default 30 days for B's answer.
POLICIES = CasePolicies(items={ITEM: MANUAL}, timings=CaseTimings())
TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module")
async def console_nodes(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiPair]:
    """The harness's pair (tests/browser/conftest.py) on real working days."""
    ensure_local_keys(stack_settings, stack_settings.regions)
    tokens_dir = Path(tmp_path_factory.mktemp("tokens"))
    env = {
        "TONGBAN_NODE_POLICIES": POLICIES.model_dump_json(),
        "TONGBAN_NODE_API_PORT_BASE": str(API_PORT_BASE),
        "TONGBAN_NODE_TOKENS_DIR": str(tokens_dir),
    }
    async with start_pair(stack, stack_settings, A, B, env=env) as pair:
        for url in API.values():
            await wait_for_api(url)
        yield ApiPair(pair, TokenStore(tokens_dir))


# --- real files, as a scanner would give them ------------------------------------------------


def pdf_file(text: str) -> bytes:
    """A one-page PDF that a viewer opens (objects, cross-reference table and trailer)."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def png_file(width: int = 160, height: int = 100) -> bytes:
    """A striped RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00"
        + b"".join(bytes((180, 35, 42) if (x // 10) % 2 else (250, 250, 250)) for x in range(width))
        for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def ofd_file() -> bytes:
    """An OFD package (GB/T 33190): a ZIP whose first entry is OFD.xml."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("OFD.xml", '<?xml version="1.0" encoding="UTF-8"?><ofd:OFD/>')
        package.writestr("Doc_0/Document.xml", "<ofd:Document/>")
    return out.getvalue()


# --- a case forwarded to 440000 through the window API --------------------------------------


async def _status(http: httpx.AsyncClient, region: str, case_no: str, token: str) -> str | None:
    answer = await http.get(f"{API[region]}/cases/{case_no}", headers=auth(token))
    return str(answer.json()["summary"]["status"]) if answer.status_code == 200 else None


async def forwarded_case(nodes: ApiPair, files: dict[str, bytes], serial: str) -> str:
    """A case submitted at 350000's window with `files`, its formal review passed, received
    (its file complete) at 440000: its case number."""
    from regions.demo import synthetic_id_number

    clerk = nodes.token(A, Role.WINDOW_CLERK)
    watch_a, watch_b = nodes.token(A, Role.OPERATOR), nodes.token(B, Role.OPERATOR)
    application = {
        "item_code": ITEM,
        "processing_region": B,
        "applicant_name": "赵敏华",
        "applicant_id_number": synthetic_id_number(serial=serial),
        "applicant_phone": "13800000000",
        "fee_fen": 0,
    }
    parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
        (
            "application",
            (None, json.dumps(application, ensure_ascii=False).encode(), "application/json"),
        )
    ]
    data: dict[str, list[str]] = {"material_names": [], "originals_checked": ["居民身份证"]}
    for name, content in files.items():
        parts.append(("material", (hashlib.sha256(content).hexdigest()[:8], content, "x")))
        data["material_names"].append(name)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        created = await http.post(
            f"{API[A]}/window/cases", files=parts, data=data, headers=auth(clerk)
        )
        assert created.status_code in (200, 201), created.text[:500]
        case_no = str(created.json()["case_no"])

        async def at_a() -> str | None:
            return await _status(http, A, case_no, watch_a)

        async def at_b() -> str | None:
            return await _status(http, B, case_no, watch_b)

        await eventually(at_a, until=lambda s: s == "formal-review", what="A's formal review")
        review = await http.post(
            f"{API[A]}/window/cases/{case_no}/formal-review",
            json={"outcome": "pass"},
            headers=auth(clerk),
        )
        assert review.status_code == 200, review.text
        await eventually(at_b, until=lambda s: s == "received", timeout=60, what="the case at B")
    return case_no


async def status_at(nodes: ApiPair, region: str, case_no: str) -> str | None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        return await _status(http, region, case_no, nodes.token(region, Role.OPERATOR))


# --- the officer's browser -----------------------------------------------------------------


async def queue_row(page: Page, case_no: str) -> str | None:
    """The case's row in the queue, reloaded until the region's visibility lists it."""
    answer = await page.goto("/console/office/")
    assert answer is not None
    assert answer.status == 200, await page.locator("main").inner_text()
    row = page.locator(f'tr[data-case-no="{case_no}"]')
    return await row.inner_text() if await row.count() else None


async def open_case(officer: ConsolePage, case_no: str) -> None:
    page = officer.page
    await eventually(lambda: queue_row(page, case_no), what=f"{case_no} in the office queue")
    await page.get_by_role("link", name=case_no, exact=True).click()
    await page.wait_for_url(re.compile(rf"/console/office/cases/{case_no}$"))


async def take(page: Page, button: str, done: str) -> None:
    await page.get_by_role("button", name=button, exact=True).click()
    await page.wait_for_url(re.compile(rf"\?done={done}$"))


async def preview(page: Page, material: str, digest: str) -> dict[str, Any]:
    """Click 预览 for a material: the frame loads it from this node; its response."""
    async with page.expect_response(lambda r: r.url.endswith(f"/materials/{digest}")) as seen:
        await page.get_by_role("link", name=f"预览 {material}", exact=True).click()
    response = await seen.value
    frame = page.frame(name="material-preview")
    assert frame is not None
    await frame.wait_for_url(re.compile(rf"/materials/{digest}$"))
    await frame.wait_for_load_state("load")
    headers = await response.all_headers()
    return {"status": response.status, "type": headers.get("content-type"), "headers": headers}


async def test_officer_accepts_previews_downloads_the_notice_and_approves(
    console: ConsoleBrowser,
) -> None:
    scan, form, household = pdf_file("ID card 350000"), png_file(), ofd_file()
    case_no = await forwarded_case(
        console.nodes,
        {"居民身份证": scan, "社会保障卡申领登记表": form, "户口簿": household},
        serial="611",
    )
    officer = await console.signed_in(B, Role.PROCESSING_OFFICER)
    page = officer.page
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    with no_problems(officer):
        row = await eventually(lambda: queue_row(page, case_no), what="the case in the queue")
        assert "社会保障卡申领" in row
        assert "福建省（350000）" in row
        assert "已接收（待受理）" in row
        assert re.search(
            r"受理期限（5 个工作日）：\d{4}-\d\d-\d\d 23:59 \(北京时间\)，剩 \d 个工作日", row
        )

        await open_case(officer, case_no)
        main = page.locator("main")
        assert "赵敏华" in await main.inner_text()
        assert "已核验" in await page.locator("table.materials").inner_text()

        png = await preview(page, "社会保障卡申领登记表", hashlib.sha256(form).hexdigest())
        assert (png["status"], png["type"]) == (200, "image/png")
        frame = page.frame(name="material-preview")
        assert frame is not None
        assert await frame.locator("img").count() == 1  # the browser shows the image itself
        # OFD: offered as a download, not framed.
        assert await page.get_by_role("link", name="预览 户口簿").count() == 0
        assert await page.get_by_role("link", name="下载 户口簿").count() == 1
        await screenshot(page, "office-case-file")

        await take(page, "受理", "accept")
        assert "已受理" in await page.get_by_role("status").inner_text()
        assert "办理中" in await page.locator(".case-status").inner_text()
        assert "承诺时限" in await page.locator("ul.limits").inner_text()
        assert "测试办理人员（工号 T-OFFICER" in await page.locator("table.timeline").inner_text()

        notice = page.get_by_role("link", name=re.compile(r"^下载 受理通知书"))

        async def notice_listed() -> bool:
            await page.reload()
            return await notice.count() == 1

        await eventually(notice_listed, what="the 受理通知书 listed on the case file")

    # A download ends the navigation that asked for it: the browser reports that request as
    # aborted, so it is checked outside `no_problems`.
    async with page.expect_download() as downloading:
        await notice.click()
    download = await downloading.value
    saved = await download.path()
    assert saved is not None
    assert (await asyncio.to_thread(Path(saved).read_bytes)).startswith(b"%PDF")
    assert download.suggested_filename.endswith(".pdf")

    with no_problems(officer):
        await page.get_by_label("准予的理由").fill("申请材料齐全，符合法定条件，准予办理。")
        await take(page, "准予许可", "approve")
        assert "结果已发出" in await page.locator(".case-status").inner_text()
        assert await page.get_by_role("button", name="准予许可").count() == 0

    # The PDF in the preview frame: Chromium shows it in its own viewer, whose resources
    # (chrome-extension://, chrome://) are the browser's; any later navigation aborts those
    # still loading, so the PDF comes last and only this page's own requests are checked.
    before = len(officer.problems)
    await page.reload()
    pdf = await preview(page, "居民身份证", hashlib.sha256(scan).hexdigest())
    assert (pdf["status"], pdf["type"]) == (200, "application/pdf")
    assert pdf["headers"]["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in pdf["headers"]["content-security-policy"]
    assert pdf["headers"]["content-disposition"].startswith("inline")
    ours = [p for p in officer.problems[before:] if "chrome-extension://" not in p]
    assert [p for p in ours if "chrome://" not in p] == []

    assert await eventually(
        lambda: status_at(console.nodes, A, case_no),
        until=lambda s: s == "result-received",
        what="the approval at A",
    )
    # Nothing the officer typed and no personal data went into a URL.
    assert urls
    assert not [u for u in urls if "赵敏华" in u or "%E8%B5%B5" in u or "申请材料齐全" in u]


async def test_officer_asks_for_补正_with_the_complete_list(console: ConsoleBrowser) -> None:
    case_no = await forwarded_case(
        console.nodes, {"居民身份证": pdf_file("ID"), "社会保障卡申领登记表": png_file()}, "612"
    )
    officer = await console.signed_in(B, Role.PROCESSING_OFFICER)
    page = officer.page
    with no_problems(officer):
        await open_case(officer, case_no)
        await page.get_by_label(re.compile(r"^社会保障卡申领登记表")).check()
        await page.get_by_label(re.compile(r"^近期免冠证件照片")).check()
        await page.get_by_label("其他需补正的内容").fill("户口簿首页\n居民身份证背面复印件")
        await page.get_by_label("补正说明").fill("登记表未签字；照片需近期免冠。")
        await take(page, "告知补正", "supplement")
        assert "补正通知已发出" in await page.get_by_role("status").inner_text()
        assert "待补正（受理前）" in await page.locator(".case-status").inner_text()
        asked = await page.locator("table.supplements").inner_text()
        for name in (
            "社会保障卡申领登记表",
            "近期免冠证件照片",
            "户口簿首页",
            "居民身份证背面复印件",
        ):
            assert name in asked
        assert "告知补正" in asked
        assert await page.get_by_role("button", name="受理", exact=True).count() == 0
    assert await eventually(
        lambda: status_at(console.nodes, A, case_no),
        until=lambda s: s == "supplement-before-acceptance",
        what="A told of the 补正",
    )


async def test_officer_does_not_accept_with_the_reason_by_keyboard(console: ConsoleBrowser) -> None:
    case_no = await forwarded_case(
        console.nodes, {"居民身份证": pdf_file("ID"), "社会保障卡申领登记表": png_file()}, "613"
    )
    officer = await console.signed_in(B, Role.PROCESSING_OFFICER)
    page = officer.page
    with no_problems(officer):
        await open_case(officer, case_no)
        await page.get_by_label("不予受理的理由").focus()
        await page.keyboard.type("申请人已持有有效社会保障卡，不符合申领条件。")
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.textContent")
        assert focused == "不予受理"
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(r"\?done=not-accept$"))
        assert "不予受理" in await page.get_by_role("status").inner_text()
        assert "办结" in await page.locator(".case-status").inner_text()
        timeline = await page.locator("table.timeline").inner_text()
        assert "申请人已持有有效社会保障卡" in timeline
        assert await page.locator("form.step").count() == 0
        queue = await queue_row(page, case_no)
        assert queue is None  # closed: no longer in the queue
    assert await eventually(
        lambda: status_at(console.nodes, A, case_no),
        until=lambda s: s in ("compensating", "closed-rejected"),
        what="A compensating after 不予受理",
    )
