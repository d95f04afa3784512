"""The console's 窗口 pages without services: the catalog as the window may use it, the form an
item generates (every input labelled), and applications refused before anything is recorded
(no database, no Temporal: a refusal that reached them would fail here), each re-rendered with
the clerk's input kept and the rule named in Chinese."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from console.sessions import MemorySessionStore
from console.window_pages import person_steps
from events.credentials import RegionCredentials
from regions.tokens import Role, TokenStore
from tests.support.console import Clock, console_app, console_client, csrf_of, issue, sign_in
from workflows.lifecycle.intake import On

A, B = "350000", "440000"
ITEM = "GG-00102-000"  # 社会保障卡申领: 居民身份证 and 登记表 carried, the photo by data sharing
GOOD_ID = "11010519491231002X"
BAD_ID = "110105194912310021"  # the checksum digit is wrong
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def http(
    tmp_path: Path, fujian: RegionCredentials, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    tokens = TokenStore(tmp_path / "tokens")
    app = console_app(
        A, tokens=tokens, sessions=MemorySessionStore(), credentials=fujian, clock=clock
    )
    async with console_client(app) as client:
        answer = await sign_in(client, issue(tokens, A, Role.WINDOW_CLERK, clock=clock))
        assert answer.status_code == 303, answer.text
        yield client


class _Inputs(HTMLParser):
    """The form controls of a page and its labels' `for`."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append({"tag": tag, **found})
        if tag == "label" and found.get("for"):
            self.label_for.add(str(found["for"]))


def _controls(page: str) -> _Inputs:
    parsed = _Inputs()
    parsed.feed(page)
    return parsed


async def test_only_items_the_window_may_take_for_the_region_with_their_mode(
    http: httpx.AsyncClient,
) -> None:
    def link(code: str) -> str:
        return f"/console/window/apply/{code}?processing_region={B}"

    page = (await http.get("/console/window/apply", params={"processing_region": B})).text
    assert link(ITEM) in page
    assert "社会保障卡申领" in page
    assert "异地代收代办" in page
    # 电子社会保障卡申领 is 全程网办 only: no window takes it for another region.
    assert "/GG-00103-000?" not in page
    searched = await http.get("/console/window/apply", params={"processing_region": B, "q": "学历"})
    assert link("GG-00701-001") in searched.text
    assert link(ITEM) not in searched.text
    by_code = await http.get("/console/window/apply", params={"processing_region": B, "q": ITEM})
    assert by_code.text.count("?processing_region=") == 1
    # A region the directory does not list offers nothing.
    unknown = await http.get("/console/window/apply", params={"processing_region": "999999"})
    assert "没有这个办理地" in unknown.text
    assert "/console/window/apply/" not in unknown.text


async def test_an_item_the_pair_may_not_share_is_refused_with_its_rule(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.get("/console/window/apply/GG-00103-000", params={"processing_region": B})
    assert answer.status_code == 422
    assert "mode_not_allowed" in answer.text
    assert "不允许" in answer.text
    same = await http.get(f"/console/window/apply/{ITEM}", params={"processing_region": A})
    assert same.status_code == 422
    assert "same_region" in same.text


async def test_the_form_follows_the_item_and_labels_every_input(http: httpx.AsyncClient) -> None:
    answer = await http.get("/console/window/apply/XK-00111-000", params={"processing_region": B})
    assert answer.status_code == 200
    page = answer.text
    parsed = _controls(page)
    unlabelled = [c for c in parsed.controls if c.get("id") not in parsed.label_for]
    assert parsed.controls
    assert unlabelled == []
    files = [c for c in parsed.controls if c.get("type") == "file"]
    # 驾驶证补换领: one file input per material, the carried one required, the shared not.
    assert len(files) == 3
    assert [("required" in c) for c in files] == [True, False, False]
    assert "必交" in page
    assert "数据共享" in page
    assert "10.00 元" in page  # the item's fee
    assert 'name="fee_fen" value="1000"' in page
    assert page.count('name="originals_checked"') == 3
    # A fresh submission key each time the form is opened.
    again = await http.get("/console/window/apply/XK-00111-000", params={"processing_region": B})
    key = 'name="submission_key" value="'
    assert page.split(key)[1][:20] != again.text.split(key)[1][:20]


async def _form(http: httpx.AsyncClient, item: str = ITEM) -> tuple[str, dict[str, str]]:
    page = (await http.get(f"/console/window/apply/{item}", params={"processing_region": B})).text
    key = page.split('name="submission_key" value="')[1].split('"')[0]
    fields = {
        "csrf": csrf_of(page),
        "submission_key": key,
        "item_code": item,
        "item_version": "1",
        "processing_region": B,
        "fee_fen": "0",
        "applicant_name": "王小明",
        "applicant_id_number": GOOD_ID,
        "applicant_phone": "13800000000",
        "applicant_address": "福州市鼓楼区",
    }
    return page, fields


NAMES = ("居民身份证", "近期免冠证件照片", "社会保障卡申领登记表")
NO_FILE = ("", b"", "application/octet-stream")  # a file input left empty, as browsers send it


def _multipart(
    text: list[tuple[str, str]], files: list[tuple[str, bytes, str]]
) -> tuple[bytes, str]:
    """The body a browser sends: text fields in order, then one part per file input, an empty
    input as a part with an empty filename (httpx would leave the filename out)."""
    boundary = "----tongbanwindowtest"
    out = bytearray()
    for name, value in text:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for filename, content, media_type in files:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="material";'
            f' filename="{filename}"\r\nContent-Type: {media_type}\r\n\r\n'
        ).encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


async def _post(
    http: httpx.AsyncClient,
    fields: dict[str, str],
    files: list[tuple[str, bytes, str]],
    *,
    names: tuple[str, ...] = NAMES,
    originals: tuple[str, ...] = (),
) -> httpx.Response:
    text = [
        *fields.items(),
        *(("material_names", n) for n in names),
        *(("originals_checked", n) for n in originals),
    ]
    body, content_type = _multipart(text, files)
    return await http.post(
        "/console/window/apply", content=body, headers={"content-type": content_type}
    )


async def test_a_wrong_id_number_is_refused_with_the_input_kept(http: httpx.AsyncClient) -> None:
    _, fields = await _form(http)
    fields["applicant_id_number"] = BAD_ID
    answer = await _post(
        http,
        fields,
        [("id.pdf", PDF, "application/pdf"), NO_FILE, ("f.pdf", PDF, "application/pdf")],
    )
    assert answer.status_code == 422
    page = answer.text
    assert "id_number_checksum" in page
    assert "证件号码" in page
    assert "校验位" in page
    assert 'value="王小明"' in page
    assert "福州市鼓楼区" in page
    assert "请重新选择" in page  # files are not kept: the page says so
    assert 'aria-invalid="true"' in page.split('id="f-applicant_id_number"')[1][:400]


async def test_missing_mandatory_materials_are_named(http: httpx.AsyncClient) -> None:
    _, fields = await _form(http)
    answer = await _post(
        http, fields, [("id.pdf", PDF, "application/pdf"), NO_FILE, NO_FILE], originals=(NAMES[0],)
    )
    assert answer.status_code == 422, answer.text
    assert "missing_materials" in answer.text, answer.text.split('role="alert"')[1][:500]
    assert "缺少必须由申请人提交的材料：社会保障卡申领登记表" in answer.text
    assert "缺少</span>" in answer.text  # the material's row is marked
    assert 'value="居民身份证" checked' in answer.text  # the 核验原件 tick is kept


async def test_a_file_that_is_not_a_scan_is_refused_naming_the_material(
    http: httpx.AsyncClient,
) -> None:
    _, fields = await _form(http)
    answer = await _post(
        http,
        fields,
        [("id.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"), NO_FILE, ("f.pdf", PDF, "x/y")],
    )
    assert answer.status_code == 422
    assert "file_type_not_allowed" in answer.text
    assert "居民身份证：文件不是 PDF、JPEG、PNG 或 OFD" in answer.text


async def test_an_original_ticked_without_its_file_is_refused(http: httpx.AsyncClient) -> None:
    _, fields = await _form(http)
    answer = await _post(
        http,
        fields,
        [("id.pdf", PDF, "application/pdf"), NO_FILE, ("f.pdf", PDF, "application/pdf")],
        originals=(NAMES[1],),
    )
    assert answer.status_code == 422
    assert "unknown_original" in answer.text


async def test_an_upload_without_the_csrf_token_does_nothing(http: httpx.AsyncClient) -> None:
    _, fields = await _form(http)
    fields["csrf"] = "forged"
    answer = await _post(http, fields, [("id.pdf", PDF, "application/pdf")], names=NAMES[:1])
    assert answer.status_code == 403
    assert "csrf_token_invalid" in answer.text


async def test_an_officer_cannot_open_the_window_pages(
    tmp_path: Path, fujian: RegionCredentials, clock: Clock
) -> None:
    tokens = TokenStore(tmp_path / "tokens")
    app = console_app(
        A, tokens=tokens, sessions=MemorySessionStore(), credentials=fujian, clock=clock
    )
    async with console_client(app) as client:
        await sign_in(client, issue(tokens, A, Role.PROCESSING_OFFICER, clock=clock))
        answer = await client.get("/console/window/apply", params={"processing_region": B})
        assert answer.status_code == 403


def test_the_steps_a_status_offers_come_from_the_lifecycle() -> None:
    assert person_steps("formal-review") == {
        On.REVIEW_PASSED,
        On.REVIEW_SUPPLEMENT,
        On.REVIEW_REFUSED,
        On.WITHDRAW,
    }
    assert person_steps("supplement-pending") == {On.SUPPLEMENT_PROVIDED, On.WITHDRAW}
    assert On.DELIVERED in person_steps("result-received")
    assert person_steps("closed") == frozenset()
    # A status a case passes through but does not rest in offers nothing.
    assert person_steps("forwarded") == frozenset()


async def test_the_applicants_consent_to_data_sharing_is_asked_where_evidence_serves(
    http: httpx.AsyncClient,
) -> None:
    # 工作调动户口迁移: 广东 fetches the 居民户口簿 by data sharing once the applicant consents.
    page, fields = await _form(http, "QR-00101-001")
    parsed = _controls(page)
    consent = [c for c in parsed.controls if c.get("name") == "evidence_consent"]
    assert [c.get("type") for c in consent] == ["checkbox"]
    assert "checked" not in consent[0]  # never ticked for the clerk
    assert [c.get("id") for c in parsed.controls if c.get("id") not in parsed.label_for] == []
    assert "数据共享授权" in page
    assert "居民户口簿" in page.split("数据共享授权")[1]
    # An item no evidence serves asks for no consent.
    other, _ = await _form(http)
    assert 'name="evidence_consent"' not in other

    # Refused for another reason, the form comes back with the consent as the clerk ticked it.
    fields["applicant_id_number"] = BAD_ID
    fields["evidence_consent"] = "on"
    fields["consent_given_by"] = "委托代理人"
    answer = await _post(http, fields, [NO_FILE, NO_FILE], names=CARRIED_QR)
    assert answer.status_code == 422
    assert "id_number_checksum" in answer.text
    kept = [c for c in _controls(answer.text).controls if c.get("name") == "evidence_consent"]
    assert "checked" in kept[0]
    assert '<option value="委托代理人" selected>' in answer.text


CARRIED_QR = ("居民身份证", "调动审批材料（调令或录用手续）")
