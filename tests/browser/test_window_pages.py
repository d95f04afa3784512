"""The 窗口 pages in a real browser (issue 18 item 2), on the pair's nodes: a clerk at 350000
takes an application with the keyboard alone (every input labelled), uploads real files and
lands on the case page; formal review with 一次性告知 and 补正 intake with a file, the notice
printed; a refused application keeps what was typed and names the rule."""

from __future__ import annotations

import re
import struct
import weakref
import zlib

import pytest
from playwright.async_api import FileChooser, Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from regions.tokens import Role
from tests.browser.console import ConsoleBrowser, ConsolePage, no_problems, screenshot
from tests.integration.api_nodes import ITEM, A, B
from tests.waiting import eventually

pytestmark = pytest.mark.integration

GOOD_ID = "11010519491231002X"
BAD_ID = "110105194912310021"  # the last digit is not the checksum
NAME = "林小雨"
CASE_URL = re.compile(r"/console/window/cases/(350000-\d{8}-[0-9A-Z]{8})\?done=")


def tiny_png(rgb: bytes = b"\xb4\x23\x2a") -> bytes:
    """A valid 1×1 PNG of one colour (the window reads the signature; a viewer shows a pixel).
    Files of the same bytes are one file to the case (by digest): give each its own colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + rgb)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def tiny_pdf(text: str = "scan") -> bytes:
    """A small valid PDF of one empty page (cross-reference offsets computed)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%% %s\nendstream" % (len(text) + 2, text.encode()),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# Every visible form control has an accessible name from a <label> (or aria-label).
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.name || e.id || e.outerHTML.slice(0, 60))"""


async def focused(page: Page) -> str:
    found: str = await page.evaluate(
        "() => document.activeElement ? (document.activeElement.id || "
        "document.activeElement.getAttribute('aria-label') || "
        "document.activeElement.textContent.trim()) : ''"
    )
    return found


async def tab_to(page: Page, target: Locator, limit: int = 60) -> None:
    """Press Tab until `target` has the focus (keyboard only), failing if it never does."""
    for _ in range(limit):
        if await target.evaluate("e => e === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"cannot reach {target} with the Tab key (focus on {await focused(page)})")


_KEEPING_CHOOSERS: weakref.WeakSet[Page] = weakref.WeakSet()


def _keep_chooser(chooser: FileChooser) -> None:
    """`choose_file` answers each dialog; this listener only keeps them coming to Playwright."""


async def choose_file(page: Page, name: str, content: bytes, mime: str) -> None:
    """The focused file input opened with the keyboard (Space), the file chosen in its dialog.
    Playwright asks the browser for file dialogs when a page gets its first listener and stops
    when the last goes, without waiting: one listener for the page's life, so a Space pressed
    right after a dialog closed is never ahead of the next request. Should a key still pass
    without a dialog, it is pressed again (a person would too), a few times at most."""
    if page not in _KEEPING_CHOOSERS:
        page.on("filechooser", _keep_chooser)
        await page.evaluate("0")  # a round trip: the request has reached the browser
        _KEEPING_CHOOSERS.add(page)
    for _ in range(3):
        try:
            async with page.expect_file_chooser(timeout=5_000) as chooser:
                await page.keyboard.press("Space")
        except PlaywrightTimeout:
            continue
        await (await chooser.value).set_files({"name": name, "mimeType": mime, "buffer": content})
        return
    raise AssertionError(f"no file dialog opened from {await focused(page)} with the keyboard")


async def pick_item_by_keyboard(page: Page) -> None:
    await page.goto("/console/window/apply")
    region = page.get_by_label("办理地")
    assert await focused(page) == "f-processing_region"  # autofocus: ready to choose
    for _ in range(60):
        if await region.input_value() == B:
            break
        await page.keyboard.press("ArrowDown")
    assert await region.input_value() == B
    await page.keyboard.press("Tab")
    await page.keyboard.type("社会保障卡")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"processing_region=440000"))
    link = page.get_by_role("link", name="受理：社会保障卡申领")
    assert await page.get_by_role("link", name="受理：电子社会保障卡申领").count() == 0
    await tab_to(page, link)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(rf"/console/window/apply/{ITEM}\?"))


async def fill_applicant_by_keyboard(page: Page, id_number: str) -> None:
    await tab_to(page, page.get_by_label("姓名"))
    await page.keyboard.type(NAME)
    for text in (id_number, "13800001111", "福州市鼓楼区五四路 1 号"):
        await page.keyboard.press("Tab")
        await page.keyboard.type(text)


async def apply_by_keyboard(
    clerk: ConsolePage, id_number: str = GOOD_ID, *, shot: str | None = None
) -> None:
    """The whole 受理 form with the keyboard: Tab from field to field, Space to open a file
    input's dialog and to tick 核验原件, Enter to send."""
    page = clerk.page
    await pick_item_by_keyboard(page)
    assert await page.evaluate(UNLABELLED) == []
    await fill_applicant_by_keyboard(page, id_number)
    # 居民身份证: its scan, its original checked.
    await page.keyboard.press("Tab")
    assert await focused(page) == "f-file-1"
    await choose_file(page, "id-card.png", tiny_png(), "image/png")
    await page.keyboard.press("Tab")
    assert await focused(page) == "f-orig-1"
    await page.keyboard.press("Space")
    # 近期免冠证件照片 comes by data sharing: passed over. 社会保障卡申领登记表: its scan.
    await tab_to(page, page.get_by_label("“社会保障卡申领登记表”的扫描文件"))
    await choose_file(page, "form.pdf", tiny_pdf("registration form"), "application/pdf")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Space")
    # The browser's own check read the files before anything was sent.
    await eventually(
        lambda: page.locator("#f-file-1-check").inner_text(),
        what="the browser's check of the first file",
        until=lambda text: text.startswith("PNG"),
    )
    assert await page.get_by_label("已核验“居民身份证”原件").is_checked()
    if shot:
        await screenshot(page, shot)
    await tab_to(page, page.get_by_role("button", name="提交受理"))
    await page.keyboard.press("Enter")


async def test_a_clerk_takes_an_application_with_the_keyboard_only(
    console: ConsoleBrowser,
) -> None:
    clerk = await console.signed_in(A, Role.WINDOW_CLERK)
    page = clerk.page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    with no_problems(clerk):
        await apply_by_keyboard(clerk, shot="window-form")
        await page.wait_for_url(CASE_URL)
        found = CASE_URL.search(page.url)
        assert found is not None
        case_no = found.group(1)
        main = page.locator("main")
        assert "已收件，案件已建立" in await main.inner_text()
        assert await page.locator("#summary-heading + dl .status").inner_text() == "形式审查"
        materials = page.locator("table.materials tbody tr")
        assert await materials.count() == 2
        id_row = materials.filter(has_text="居民身份证")
        assert "已核验" in await id_row.inner_text()
        assert "测试窗口人员" in await id_row.inner_text()  # who checked the original
        assert "已核验" in await materials.filter(has_text="社会保障卡申领登记表").inner_text()
        assert await page.get_by_role("button", name="形式审查通过").count() == 1
        assert await page.get_by_role("button", name="确认送达").count() == 0
        assert await page.evaluate(UNLABELLED) == []

        # The queue lists it (the search attributes are indexed soon after the start).
        async def listed() -> bool:
            await page.goto("/console/window/")
            return await page.get_by_role("link", name=case_no).count() == 1

        await eventually(listed, what=f"{case_no} in the window's queue")
        row = page.locator("table.queue tr", has=page.get_by_role("link", name=case_no))
        assert "社会保障卡申领" in await row.inner_text()
        assert "广东省" in await row.inner_text()
    # Nothing the clerk typed went into an address.
    assert requested
    assert not [u for u in requested if GOOD_ID in u or "13800001111" in u or "%E6%9E%97" in u]


async def _submitted(clerk: ConsolePage) -> str:
    page = clerk.page
    await page.goto(f"/console/window/apply/{ITEM}?processing_region={B}")
    await page.get_by_label("姓名").fill(NAME)
    await page.get_by_label("证件号码（居民身份证）").fill(GOOD_ID)
    await page.get_by_label("联系电话").fill("13800001111")
    await page.get_by_label("“居民身份证”的扫描文件").set_input_files(
        {"name": "id.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    await page.get_by_label("“社会保障卡申领登记表”的扫描文件").set_input_files(
        {"name": "form.pdf", "mimeType": "application/pdf", "buffer": tiny_pdf("blurred")}
    )
    await page.get_by_role("button", name="提交受理").click()
    await page.wait_for_url(CASE_URL)
    found = CASE_URL.search(page.url)
    assert found is not None
    return found.group(1)


async def test_one_time_notice_then_supplement_with_a_file(console: ConsoleBrowser) -> None:
    clerk = await console.signed_in(A, Role.WINDOW_CLERK)
    page = clerk.page
    with no_problems(clerk):
        case_no = await _submitted(clerk)
        # 一次性告知: the registration form's scan is illegible, and one more paper is needed.
        notice = page.locator("form.supplement-notice")
        await notice.get_by_label("社会保障卡申领登记表（必交）").check()
        await notice.get_by_label("其他所缺材料（每行一项）").fill("户口所在地派出所证明")
        await notice.get_by_role("button", name="一次性告知补正").click()
        await page.wait_for_url(re.compile(rf"/cases/{case_no}\?done=formal-review"))
        assert await page.locator("#summary-heading + dl .status").inner_text() == "待补正（窗口）"
        history = await page.locator("ul.supplements").inner_text()
        assert "社会保障卡申领登记表" in history
        assert "户口所在地派出所证明" in history
        # The review's buttons are gone; the 补正 form asks for the listed material first.
        assert await page.get_by_role("button", name="形式审查通过").count() == 0
        first = page.locator("form[action$='/supplement'] input[type=file]").first
        assert await first.get_attribute("id") == "f-sfile-1"
        assert await page.get_by_label("“社会保障卡申领登记表”的补正文件").count() == 1

        # The 一次性告知书 is issued for the applicant: listed, printable, downloadable.
        async def notice_listed() -> bool:
            await page.reload()
            return await page.locator("table.documents tr", has_text="一次性告知书").count() == 1

        await eventually(notice_listed, what="the 一次性告知书 among the case's documents")
        printed = page.get_by_role("link", name="打印 一次性告知书")
        answer = await page.request.get(str(await printed.get_attribute("href")))
        assert answer.status == 200
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.headers["content-disposition"].startswith("inline")
        assert (await answer.body()).startswith(b"%PDF-")
        async with page.expect_download() as download:
            await page.get_by_role("link", name="下载 一次性告知书").click()
        assert (await download.value).suggested_filename.endswith(".pdf")

        # 补正 intake: the new scan, its original checked, and the extra paper by name.
        await page.get_by_label("“社会保障卡申领登记表”的补正文件").set_input_files(
            {"name": "form-again.png", "mimeType": "image/png", "buffer": tiny_png(b"\x10\x20\x30")}
        )
        await page.get_by_label("已核验“社会保障卡申领登记表”原件").check()
        await page.get_by_label("其他补正材料 1 的名称").fill("户口所在地派出所证明")
        await page.get_by_label("其他补正材料 1 的文件").set_input_files(
            {"name": "police.pdf", "mimeType": "application/pdf", "buffer": tiny_pdf("police")}
        )
        await page.get_by_role("button", name="收取补正材料").click()
        await page.wait_for_url(re.compile(rf"/cases/{case_no}\?done=supplement"))
        assert await page.locator("#summary-heading + dl .status").inner_text() == "形式审查"
        materials = page.locator("table.materials tbody tr")
        assert await materials.count() == 4
        assert await materials.filter(has_text="户口所在地派出所证明").count() == 1
        forms = materials.filter(has_text="社会保障卡申领登记表")
        assert await forms.count() == 2
        assert await forms.filter(has_text="已核验").count() == 1  # the 补正 scan
        await screenshot(page, "window-case")

        # A second 一次性告知 not about the 补正's own materials is refused, the ticks kept.
        notice = page.locator("form.supplement-notice")
        await notice.get_by_label("社会保障卡申领登记表（必交）").uncheck()
        await notice.get_by_label("居民身份证（必交）").check()
    # (Outside the check: the browser logs the 409 answer itself.)
    await notice.get_by_role("button", name="一次性告知补正").click()
    await page.wait_for_url(re.compile(rf"/cases/{case_no}/formal-review$"))
    alert = page.get_by_role("alert")
    assert "one_time_notice" in await alert.inner_text()
    assert "一次性告知" in await alert.inner_text()
    assert (
        await page.locator("form.supplement-notice").get_by_label("居民身份证（必交）").is_checked()
    )


async def test_a_refused_application_keeps_the_input_and_names_the_rule(
    console: ConsoleBrowser,
) -> None:
    clerk = await console.signed_in(A, Role.WINDOW_CLERK)
    page = clerk.page
    await apply_by_keyboard(clerk, id_number=BAD_ID)
    await page.wait_for_url(re.compile(r"/console/window/apply$"))
    alert = page.get_by_role("alert")
    assert "申请未被受理" in await alert.inner_text()
    assert "id_number_checksum" in await alert.inner_text()
    assert "校验位" in await alert.inner_text()
    assert await page.get_by_label("姓名").input_value() == NAME
    assert await page.get_by_label("证件号码（居民身份证）").input_value() == BAD_ID
    assert await page.get_by_label("证件号码（居民身份证）").get_attribute("aria-invalid") == "true"
    assert await page.get_by_label("已核验“居民身份证”原件").is_checked()
    # The files are not kept, and the page says to choose them again.
    assert "请重新选择" in await page.get_by_role("status").first.inner_text()
    assert await page.get_by_label("“居民身份证”的扫描文件").evaluate("e => e.files.length") == 0
    assert await page.evaluate(UNLABELLED) == []
