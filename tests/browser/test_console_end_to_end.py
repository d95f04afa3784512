"""Whole cases through the console alone (issue 18, "What it must show"), in Debian's Chromium
with one browser context per person: a clerk at 福建 (350000), an officer at 广东 (440000), and
an operator who watches both lanes.

1. From an empty form to a closed case in both regions: the clerk finds the item in the catalog,
   completes the 受理 form with the keyboard alone (every input labelled, checked in the page),
   uploads a PDF and a PNG made here, ticks 核验原件 and passes the formal review; the officer
   finds the case in the queue, opens the case file, previews a material, accepts, downloads
   the 受理通知书 (a PDF that says so) and approves; the clerk confirms delivery at the window.
   Both case pages say 办结, the operators' swimlane says both regions closed, and both
   workflows completed. No address the browsers asked for and no line the nodes logged while
   it ran holds the applicant's name, ID number or phone.
2. 补正 both ways: the clerk's 一次性告知 with the complete list and its 补正 taken with a file;
   then the officer's 补正 request, answered at the window with a file that reaches the
   officer's case file, and the case goes on to acceptance.
3. A denial with compensation: a case with a fee is denied (不予许可 with the reason); the
   clerk's page shows it ended (退件办结, 不予许可) with the fee refunded, the receipt voided
   and the materials returned in its timeline, and the 不予行政许可决定书 among its documents.

The pair runs on real working days and long answer times (as tests/browser/test_office_pages.py
does), so nothing happens to a case on its own while the browsers work it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg
import pytest
from playwright.async_api import FileChooser, Locator, Page, ViewportSize
from temporalio.client import WorkflowExecutionStatus

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from regions.demo import synthetic_id_number
from regions.local import ensure_local_keys
from regions.policies import MANUAL, CasePolicies
from regions.tokens import Role, TokenStore
from tests.browser.console import (
    VIEWPORT,
    ConsoleBrowser,
    ConsolePage,
    no_problems,
    screenshot,
)
from tests.browser.test_office_pages import pdf_file, png_file
from tests.integration.api_nodes import API, API_PORT_BASE, ITEM, ApiPair, wait_for_api
from tests.integration.pair import start_pair
from tests.waiting import eventually
from workflows.models import CaseTimings

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
FEE_ITEM = "XK-00111-000"  # 机动车驾驶证补换领: 10.00 元, so a denial has a fee to refund
# People decide every step; real working days; A waits its default 30 days for B's answer.
POLICIES = CasePolicies(items={ITEM: MANUAL, FEE_ITEM: MANUAL}, timings=CaseTimings())
README_VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
CASE_URL = re.compile(r"/console/window/cases/(350000-\d{8}-[0-9A-Z]{8})\?done=submitted$")

# Every visible form control has an accessible name: a <label> or aria-label.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.name || e.id || e.outerHTML.slice(0, 60))"""


@contextlib.asynccontextmanager
async def manual_pair(
    stack: StackEndpoints, stack_settings: StackSettings, tokens_dir: Path
) -> AsyncIterator[ApiPair]:
    """The harness's pair (tests/browser/conftest.py) on real working days, people deciding
    both items."""
    ensure_local_keys(stack_settings, stack_settings.regions)
    env = {
        "TONGBAN_NODE_POLICIES": POLICIES.model_dump_json(),
        "TONGBAN_NODE_API_PORT_BASE": str(API_PORT_BASE),
        "TONGBAN_NODE_TOKENS_DIR": str(tokens_dir),
    }
    async with start_pair(stack, stack_settings, A, B, env=env) as pair:
        for url in API.values():
            await wait_for_api(url)
        yield ApiPair(pair, TokenStore(tokens_dir))


@pytest.fixture(scope="module")
async def console_nodes(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiPair]:
    async with manual_pair(stack, stack_settings, tmp_path_factory.mktemp("tokens")) as nodes:
        yield nodes


@dataclass(frozen=True)
class Applicant:
    """A synthetic applicant of this run only, so that any trace of them is this run's."""

    name: str
    id_number: str
    phone: str
    address: str = "福州市鼓楼区五四路 1 号"

    @classmethod
    def fresh(cls) -> Applicant:
        given = "".join(secrets.choice("明华伟芳秀英敏静丽强军杰涛超") for _ in range(2))
        # 350102 (鼓楼区) as GB/T 2260 had it in 1990: a birth date that year, a random serial.
        birth = f"1990{1 + secrets.randbelow(12):02d}{10 + secrets.randbelow(18)}"
        serial = f"{secrets.randbelow(1000):03d}"
        phone = f"139{secrets.randbelow(10**8):08d}"
        return cls(f"欧阳{given}", synthetic_id_number(birth=birth, serial=serial), phone)

    def traces(self) -> tuple[str, ...]:
        """How each piece could appear in an address or a log line."""
        return (
            self.name,
            quote(self.name),
            quote(self.name).lower(),
            self.name.encode("unicode_escape").decode(),
            self.id_number,
            self.phone,
        )


def traces_in(texts: list[str], applicant: Applicant) -> list[str]:
    return [t for t in texts if any(trace in t for trace in applicant.traces())]


async def readme_shot(page: Page, name: str, top: str) -> None:
    """The README's picture: a 1280×900 viewport whose top is the element `top` (a small PNG,
    $TONGBAN_CONSOLE_IMAGES/<name>.png when that is set)."""
    await page.set_viewport_size(README_VIEWPORT)
    await page.locator(top).first.evaluate("e => e.scrollIntoView({block: 'start'})")
    await screenshot(page, name, full_page=False)
    await page.set_viewport_size(VIEWPORT)  # type: ignore[arg-type]


# --- The clerk's browser ---------------------------------------------------------------------


async def active_is(target: Locator) -> bool:
    found: bool = await target.evaluate("e => e === document.activeElement")
    return found


async def focused_id(page: Page) -> str:
    found: str = await page.evaluate(
        "() => document.activeElement ? document.activeElement.id : ''"
    )
    return found


async def tab_to(page: Page, target: Locator, limit: int = 80) -> None:
    """Press Tab until `target` has the focus; fails if the keyboard never gets there."""
    for _ in range(limit):
        if await active_is(target):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{target} cannot be reached with Tab (focus on {await focused_id(page)})")


def ignore_chooser(chooser: FileChooser) -> None:
    """`choose_file` answers each dialog; this listener only keeps them coming to Playwright."""


async def choose_file(page: Page, name: str, content: bytes, mime: str) -> None:
    """Space on the focused file input opens its dialog; the file is chosen there."""
    async with page.expect_file_chooser() as chooser:
        await page.keyboard.press("Space")
    await (await chooser.value).set_files({"name": name, "mimeType": mime, "buffer": content})


async def apply_by_keyboard(
    clerk: ConsolePage, applicant: Applicant, scan: bytes, form: bytes
) -> str:
    """From the empty pick page to a submitted application with the keyboard alone; the case
    number."""
    page = clerk.page
    await page.goto("/console/window/apply")
    assert await page.evaluate(UNLABELLED) == []
    region = page.get_by_label("办理地")
    assert await focused_id(page) == "f-processing_region"
    for _ in range(60):
        if await region.input_value() == B:
            break
        await page.keyboard.press("ArrowDown")
    assert await region.input_value() == B
    await page.keyboard.press("Tab")
    await page.keyboard.type("社会保障卡")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"processing_region=440000"))
    offered = page.locator("table.offered tbody tr")
    assert await offered.count() == 1  # 电子社会保障卡申领 may not cross provinces
    link = page.get_by_role("link", name="受理：社会保障卡申领", exact=True)
    await tab_to(page, link)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(rf"/console/window/apply/{ITEM}\?"))

    # The form the item asks for: every input labelled, then filled with Tab and typing.
    assert await page.evaluate(UNLABELLED) == []
    # Playwright asks the browser for file dialogs when a page gets its first listener and
    # stops when the last goes, without waiting: one listener for the whole form, so that a
    # Space pressed right after a dialog closed is never ahead of the next request.
    page.on("filechooser", ignore_chooser)
    await page.evaluate("0")  # a round trip: the request has reached the browser
    await tab_to(page, page.get_by_label("姓名"))
    await page.keyboard.type(applicant.name)
    for text in (applicant.id_number, applicant.phone, applicant.address):
        await page.keyboard.press("Tab")
        await page.keyboard.type(text)
    await page.keyboard.press("Tab")
    assert await focused_id(page) == "f-file-1"  # 居民身份证
    await choose_file(page, "id-card.pdf", scan, "application/pdf")
    await page.keyboard.press("Tab")
    assert await focused_id(page) == "f-orig-1"
    await page.keyboard.press("Space")
    # 近期免冠证件照片 comes by data sharing: passed over with Tab.
    await tab_to(page, page.get_by_label("“社会保障卡申领登记表”的扫描文件"))
    await choose_file(page, "form.png", form, "image/png")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Space")
    assert await page.get_by_label("已核验“居民身份证”原件").is_checked()
    assert await page.get_by_label("已核验“社会保障卡申领登记表”原件").is_checked()
    assert not await page.get_by_label("已核验“近期免冠证件照片”原件").is_checked()
    # The browser's own check read both files before anything is sent.
    for check, kind in (("#f-file-1-check", "PDF"), ("#f-file-3-check", "PNG")):
        said = page.locator(check)
        await eventually(
            said.inner_text, until=lambda text: bool(text.strip()), what=f"the check {check}"
        )
        assert (await said.inner_text()).startswith(kind), await said.inner_text()
    await readme_shot(page, "window-form", "fieldset.applicant")
    page.remove_listener("filechooser", ignore_chooser)
    await tab_to(page, page.get_by_role("button", name="提交受理"))
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/console/window/(cases/.*|apply)$"))
    assert CASE_URL.search(page.url), await page.locator("main").inner_text()
    found = CASE_URL.search(page.url)
    assert found is not None
    return found.group(1)


async def apply_with_fee(clerk: ConsolePage, applicant: Applicant) -> str:
    """机动车驾驶证补换领 (10.00 元) taken at the window; the case number."""
    page = clerk.page
    await page.goto(f"/console/window/apply/{FEE_ITEM}?processing_region={B}")
    assert "10.00 元" in await page.locator("section.item-summary").inner_text()
    await page.get_by_label("姓名").fill(applicant.name)
    await page.get_by_label("证件号码（居民身份证）").fill(applicant.id_number)
    await page.get_by_label("联系电话").fill(applicant.phone)
    await page.get_by_label("“居民身份证”的扫描文件").set_input_files(
        {"name": "id.pdf", "mimeType": "application/pdf", "buffer": pdf_file("ID card")}
    )
    await page.get_by_label("已核验“居民身份证”原件").check()
    await page.get_by_role("button", name="提交受理").click()
    await page.wait_for_url(CASE_URL)
    found = CASE_URL.search(page.url)
    assert found is not None
    return found.group(1)


async def window_status(page: Page) -> str:
    return await page.locator("#summary-heading + dl .status").inner_text()


async def window_case(clerk: ConsolePage, case_no: str) -> str:
    """The case page at the window, reloaded: its status."""
    answer = await clerk.page.goto(f"/console/window/cases/{case_no}")
    assert answer is not None
    assert answer.status == 200
    return await window_status(clerk.page)


async def window_summary(clerk: ConsolePage, case_no: str) -> str:
    await window_case(clerk, case_no)
    return await clerk.page.locator("#summary-heading + dl").inner_text()


async def until_window_status(clerk: ConsolePage, case_no: str, wanted: str) -> None:
    await eventually(
        lambda: window_case(clerk, case_no),
        until=lambda s: s == wanted,
        timeout=60,
        what=f"{wanted} on the window's page of {case_no}",
    )


async def pass_review_by_keyboard(page: Page, case_no: str) -> None:
    button = page.get_by_role("button", name="形式审查通过")
    await button.focus()
    assert await active_is(button)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(rf"/cases/{case_no}\?done=formal-review$"))


# --- The officer's browser -------------------------------------------------------------------


async def office_case(officer: ConsolePage, case_no: str) -> str:
    answer = await officer.page.goto(f"/console/office/cases/{case_no}")
    assert answer is not None
    assert answer.status == 200
    return await officer.page.locator(".case-status").inner_text()


async def open_from_queue(officer: ConsolePage, case_no: str) -> str:
    """The case found in the incoming queue and opened from it: the queue row's text."""
    page = officer.page

    async def row() -> str | None:
        await page.goto("/console/office/")
        found = page.locator(f'tr[data-case-no="{case_no}"]')
        return await found.inner_text() if await found.count() else None

    text = await eventually(row, timeout=60, what=f"{case_no} in the office queue")
    await page.get_by_role("link", name=case_no, exact=True).click()
    await page.wait_for_url(re.compile(rf"/console/office/cases/{case_no}$"))
    return text


async def office_step(page: Page, button: str, done: str) -> None:
    await page.get_by_role("button", name=button, exact=True).click()
    await page.wait_for_url(re.compile(rf"\?done={done}$"))


async def listed(page: Page, link: Locator, what: str) -> None:
    """Documents are issued by an activity after the step: reload until `link` is there."""

    async def there() -> bool:
        await page.reload()
        return await link.count() == 1

    await eventually(there, timeout=60, what=what)


def pdf_text(content: bytes) -> str | None:
    """The PDF's text by poppler's pdftotext, where it is installed."""
    tool = shutil.which("pdftotext")
    if tool is None:
        return None
    done = subprocess.run(
        [tool, "-enc", "UTF-8", "-", "-"], input=content, capture_output=True, check=True
    )
    return done.stdout.decode()


async def workflow_status(nodes: ApiPair, region: str, workflow_id: str) -> str:
    described = await nodes.pair.clients[region].get_workflow_handle(workflow_id).describe()
    return described.status.name if described.status else "UNKNOWN"


# --- 1. From an empty form to a case closed in both regions ------------------------------------


async def test_a_case_from_an_empty_form_to_closed_in_both_regions(
    console: ConsoleBrowser,
) -> None:
    nodes = console.nodes
    logs = {r: nodes.pair.nodes[r].log_path for r in (A, B)}
    log_start = {r: path.stat().st_size if path.exists() else 0 for r, path in logs.items()}
    applicant = Applicant.fresh()
    scan, form = pdf_file("ID card 350000"), png_file()

    clerk = await console.signed_in(A, Role.WINDOW_CLERK)
    officer = await console.signed_in(B, Role.PROCESSING_OFFICER)
    operator = await console.signed_in(A, Role.OPERATOR, person=("T-OPS", "测试运维人员"))
    urls: list[str] = []
    for person in (clerk, officer, operator):
        person.page.on("request", lambda request: urls.append(request.url))

    # The clerk at 350000: an empty form to a case forwarded to 440000.
    page = clerk.page
    with no_problems(clerk):
        case_no = await apply_by_keyboard(clerk, applicant, scan, form)
        assert await window_status(page) == "形式审查"
        materials = await page.locator("table.materials").inner_text()
        assert materials.count("已核验") == 2
        assert await page.evaluate(UNLABELLED) == []
        await pass_review_by_keyboard(page, case_no)
        assert await window_status(page) == "待受理"
        assert await page.get_by_role("button", name="确认送达").count() == 0
        receipt = page.get_by_role("link", name="下载 收件凭证")
        await listed(page, receipt, "the 收件凭证 at the window")

    # The officer at 440000: queue, case file, preview, accept, the notice, approve.
    office = officer.page
    with no_problems(officer):
        row = await open_from_queue(officer, case_no)
        assert "社会保障卡申领" in row
        assert "福建省（350000）" in row
        assert "受理期限（5 个工作日）" in row
        assert applicant.name in await office.locator("dl.applicant").inner_text()
        on_file = await office.locator("table.materials").inner_text()
        assert "居民身份证" in on_file
        assert "社会保障卡申领登记表" in on_file
        async with office.expect_response(re.compile(r"/materials/[0-9a-f]{64}$")) as seen:
            await office.get_by_role("link", name="预览 社会保障卡申领登记表").click()
        preview = await seen.value
        assert preview.status == 200
        assert preview.headers["content-type"] == "image/png"
        assert await preview.body() == form
        frame = office.frame(name="material-preview")
        assert frame is not None
        await frame.wait_for_load_state("load")
        assert await frame.locator("img").count() == 1
        await readme_shot(office, "office-case-file", "h1")

        await office_step(office, "受理", "accept")
        assert "办理中" in await office.locator(".case-status").inner_text()
        notice = office.get_by_role("link", name=re.compile(r"^下载 受理通知书"))
        await listed(office, notice, "the 受理通知书 on the case file")

    # The download ends the page's navigation (the browser reports it aborted): outside the check.
    async with office.expect_download() as downloading:
        await notice.click()
    download = await downloading.value
    saved = await download.path()
    assert saved is not None
    content = await asyncio.to_thread(Path(saved).read_bytes)
    assert content.startswith(b"%PDF")
    assert download.suggested_filename.endswith(".pdf")
    text = await asyncio.to_thread(pdf_text, content)
    if text is not None:
        assert "受理通知书" in text
        assert case_no in text

    with no_problems(officer):
        await office.get_by_label("准予的理由").fill("申请材料齐全，符合法定条件，准予办理。")
        await office_step(office, "准予许可", "approve")
        assert "结果已发出" in await office.locator(".case-status").inner_text()

    # The clerk confirms the result reached the applicant at the window.
    with no_problems(clerk):
        await until_window_status(clerk, case_no, "已收到结果")
        assert await page.get_by_label("窗口领取").is_checked()
        await page.get_by_role("button", name="确认送达").click()
        await page.wait_for_url(re.compile(rf"/cases/{case_no}\?done=delivery$"))
        assert await window_status(page) == "办结"
        await eventually(
            lambda: window_summary(clerk, case_no),
            until=lambda text: "（已办结：准予许可）" in text,
            what="the case ended at the window",
        )
        assert await page.locator("section.action").count() == 0  # no step is left
        documents = await page.locator("table.documents").inner_text()
        assert "受理通知书" in documents
        assert "准予行政许可决定书" in documents

    # 440000 closes once A's delivery reaches it.
    with no_problems(officer):
        await eventually(
            lambda: office_case(officer, case_no),
            until=lambda s: s == "办结",
            timeout=60,
            what="办结 on the office's page",
        )
        assert "本案已办结" in await office.locator("main").inner_text()

    # The operator at 350000 sees both regions' lanes, both closed.
    with no_problems(operator):

        async def swimlane() -> str:
            await operator.page.goto(f"/console/operators/cases/{case_no}")
            return await operator.page.locator("dl.case-facts").inner_text()

        facts = await eventually(
            swimlane, until=lambda t: "两地均已办结" in t, timeout=60, what="both lanes closed"
        )
        assert "社会保障卡申领" in facts or ITEM in facts
        assert await operator.page.locator(".lane-unreadable").count() == 0
        lanes = await operator.page.locator("table.timeline").inner_text()
        assert f"A {A}" in lanes
        assert f"B {B}" in lanes
        assert "测试窗口人员" in lanes
        assert "测试办理人员" in lanes
        await readme_shot(operator.page, "operators-swimlane", "h1")

    # Both workflows ended (not merely idle).
    assert await workflow_status(nodes, A, f"intake-{case_no}") == "COMPLETED"
    assert await eventually(
        lambda: workflow_status(nodes, B, f"processing-{case_no}"),
        until=lambda s: s == WorkflowExecutionStatus.COMPLETED.name,
        what="440000's workflow completed",
    )

    # No personal data in any address the three browsers asked for, nor in the nodes' logs.
    assert len(urls) > 20
    assert traces_in(urls, applicant) == []
    for region, path in logs.items():
        with path.open("rb") as log:
            log.seek(log_start[region])
            written = log.read().decode(errors="replace").splitlines()
        assert written, f"node {region} logged nothing while the case ran"
        assert traces_in(written, applicant) == [], region


# --- 2. 补正 at the window, then asked by the processing region ----------------------------------


async def test_supplement_at_the_window_and_from_the_processing_region(
    console: ConsoleBrowser,
) -> None:
    applicant = Applicant.fresh()
    clerk = await console.signed_in(A, Role.WINDOW_CLERK)
    officer = await console.signed_in(B, Role.PROCESSING_OFFICER)
    page, office = clerk.page, officer.page

    with no_problems(clerk):
        await page.goto(f"/console/window/apply/{ITEM}?processing_region={B}")
        await page.get_by_label("姓名").fill(applicant.name)
        await page.get_by_label("证件号码（居民身份证）").fill(applicant.id_number)
        await page.get_by_label("联系电话").fill(applicant.phone)
        await page.get_by_label("“居民身份证”的扫描文件").set_input_files(
            {"name": "id.pdf", "mimeType": "application/pdf", "buffer": pdf_file("ID")}
        )
        await page.get_by_label("“社会保障卡申领登记表”的扫描文件").set_input_files(
            {"name": "form.png", "mimeType": "image/png", "buffer": png_file(40, 30)}
        )
        await page.get_by_role("button", name="提交受理").click()
        await page.wait_for_url(CASE_URL)
        found = CASE_URL.search(page.url)
        assert found is not None
        case_no = found.group(1)

        # 一次性告知: everything missing, in one list.
        notice = page.locator("form.supplement-notice")
        await notice.get_by_label("社会保障卡申领登记表（必交）").check()
        await notice.get_by_label("其他所缺材料（每行一项）").fill("户口所在地派出所证明")
        await notice.get_by_role("button", name="一次性告知补正").click()
        await page.wait_for_url(re.compile(rf"/cases/{case_no}\?done=formal-review$"))
        assert await window_status(page) == "待补正（窗口）"
        asked = await page.locator("ul.supplements").inner_text()
        assert "社会保障卡申领登记表" in asked
        assert "户口所在地派出所证明" in asked
        await listed(
            page, page.get_by_role("link", name="下载 一次性告知书"), "the 一次性告知书 listed"
        )

        # The 补正 taken with its files; the review passes and the case goes to 440000.
        await page.get_by_label("“社会保障卡申领登记表”的补正文件").set_input_files(
            {"name": "form-2.pdf", "mimeType": "application/pdf", "buffer": pdf_file("signed")}
        )
        await page.get_by_label("已核验“社会保障卡申领登记表”原件").check()
        await page.get_by_label("其他补正材料 1 的名称").fill("户口所在地派出所证明")
        await page.get_by_label("其他补正材料 1 的文件").set_input_files(
            {"name": "police.png", "mimeType": "image/png", "buffer": png_file(20, 20)}
        )
        await page.get_by_role("button", name="收取补正材料").click()
        await page.wait_for_url(re.compile(rf"/cases/{case_no}\?done=supplement$"))
        assert await window_status(page) == "形式审查"
        assert await page.locator("table.materials tbody tr").count() == 4
        await pass_review_by_keyboard(page, case_no)
        assert await window_status(page) == "待受理"

    # The officer asks for one more paper before accepting, with the complete list.
    with no_problems(officer):
        await open_from_queue(officer, case_no)
        assert "户口所在地派出所证明" in await office.locator("table.materials").inner_text()
        await office.get_by_label("其他需补正的内容").fill("居民户口簿首页")
        await office.get_by_label("补正说明").fill("须核对户籍，请提交户口簿首页。")
        await office_step(office, "告知补正", "supplement")
        assert "待补正（受理前）" in await office.locator(".case-status").inner_text()
        await listed(
            office,
            office.get_by_role("link", name=re.compile(r"^下载 补正材料通知书")),
            "the 补正材料通知书 at 440000",
        )

    # The clerk takes that 补正 at the window, with a file.
    with no_problems(clerk):
        await until_window_status(clerk, case_no, "待补正（受理前）")
        supplement = page.locator("section.supplement")
        assert "居民户口簿首页" in await supplement.inner_text()
        await page.get_by_label("其他补正材料 1 的名称").fill("居民户口簿首页")
        booklet = png_file(60, 40)
        await page.get_by_label("其他补正材料 1 的文件").set_input_files(
            {"name": "hukou.png", "mimeType": "image/png", "buffer": booklet}
        )
        await page.get_by_role("button", name="收取补正材料").click()
        await page.wait_for_url(re.compile(rf"/cases/{case_no}\?done=supplement$"))
        assert await window_status(page) == "待受理"

    # It reaches the officer's case file (its bytes too), and the case goes on: accepted.
    with no_problems(officer):
        await eventually(
            lambda: office_case(officer, case_no),
            until=lambda s: "已接收（待受理）" in s,
            timeout=60,
            what="the 补正 at 440000",
        )

        async def booklet_arrived() -> bool:
            await office.reload()
            return await office.get_by_role("link", name="预览 居民户口簿首页").count() == 1

        await eventually(booklet_arrived, timeout=60, what="the 补正 file at 440000")
        async with office.expect_response(re.compile(r"/materials/[0-9a-f]{64}$")) as seen:
            await office.get_by_role("link", name="预览 居民户口簿首页").click()
        answer = await seen.value
        assert answer.status == 200
        assert await answer.body() == booklet
        frame = office.frame(name="material-preview")
        assert frame is not None
        await frame.wait_for_load_state("load")
        assert await frame.locator("img").count() == 1
        history = await office.locator("table.supplements").inner_text()
        assert "居民户口簿首页" in history
        await office_step(office, "受理", "accept")
        assert "办理中" in await office.locator(".case-status").inner_text()
    await until_window_status(clerk, case_no, "办理中")


# --- 3. A denial, compensated at the window -----------------------------------------------------


async def test_a_denial_is_compensated_at_the_window(
    console: ConsoleBrowser, stack: StackEndpoints
) -> None:
    applicant = Applicant.fresh()
    clerk = await console.signed_in(A, Role.WINDOW_CLERK)
    officer = await console.signed_in(B, Role.PROCESSING_OFFICER)
    page, office = clerk.page, officer.page
    reason = "申请人驾驶证处于暂扣期间，依法不予补换领。"

    with no_problems(clerk):
        case_no = await apply_with_fee(clerk, applicant)
        await pass_review_by_keyboard(page, case_no)
        assert await window_status(page) == "待受理"

    with no_problems(officer):
        await open_from_queue(officer, case_no)
        await office_step(office, "受理", "accept")
        await office.get_by_label("不予许可的理由").fill(reason)
        await office_step(office, "不予许可", "deny")
        assert "结果已发出" in await office.locator(".case-status").inner_text()

    with no_problems(clerk):
        # 退件办结 once compensated; 已办结 once the workflow's last effect (telling the
        # applicant) is done too.
        await until_window_status(clerk, case_no, "退件办结")
        await eventually(
            lambda: window_summary(clerk, case_no),
            until=lambda text: "（已办结：不予许可）" in text,
            timeout=60,
            what="the denial's case ended at the window",
        )
        timeline = page.locator("table.timeline")
        text = await timeline.inner_text()
        assert reason in text
        assert "申请已终结" in text  # what the applicant is told
        # The fee was charged at the review; the compensation undoes the window's steps last
        # done first: the fee refunded, the receipt voided, the materials returned; then
        # 退件办结.
        rows = [await r.inner_text() for r in await timeline.locator("tbody tr").all()]
        assert any("charge-fee" in r for r in rows)
        undone = [
            next(i for i, r in enumerate(rows) if f"{effect}: {reason}" in r)
            for effect in ("refund-fee", "void-receipt", "return-materials")
        ]
        assert undone == sorted(undone)
        assert all("退件处理" in rows[i] for i in undone)
        assert "退件办结" in rows[-1]
        assert await page.locator("section.action").count() == 0

        async def denial_listed() -> str:
            await page.reload()
            return await page.locator("table.documents").inner_text()

        documents = await eventually(
            denial_listed,
            until=lambda t: "不予行政许可决定书" in t,
            timeout=60,
            what="the denial among the window's documents",
        )
        assert "收件凭证" in documents
    # The service hall's systems were told: 10.00 元 charged, then refunded; all done.
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        orders = await conn.fetch(
            "SELECT effect, amount_fen, state FROM effect_orders WHERE case_no = $1", case_no
        )
    finally:
        await conn.close()
    by_effect = {o["effect"]: (o["amount_fen"], o["state"]) for o in orders}
    assert by_effect["charge-fee"] == (1000, "done")
    assert by_effect["refund-fee"] == (1000, "done")
    assert by_effect["void-receipt"][1] == "done"
    assert by_effect["return-materials"][1] == "done"
    # 440000 closes too: A reported the denial delivered with its closing notice.
    await eventually(
        lambda: office_case(officer, case_no),
        until=lambda s: s == "办结",
        timeout=60,
        what="办结 at 440000",
    )
