"""The office (办理) pages without services: the acceptance clock is the processing workflow's
own (driven through the lifecycle model on the real holiday calendar), the steps offered are the
validators', the forms make the workflow's inputs, and the pages over stand-ins for the case
file and the step (the access-logged opening and the Update are tested against the real stack
in tests/browser/test_office_pages.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, cast

import pytest
from httpx import AsyncClient
from starlette.datastructures import FormData

from catalog.catalog import default_catalog
from console import office_pages as office
from console.sessions import MemorySessionStore
from events.credentials import RegionCredentials
from events.envelope import event_id_for
from events.keystore import KeyStore
from events.models import EventType, InboundEvent, OriginalsChecked
from events.stores.files import CaseFile
from operators.listing import CaseRow
from regions.api.file_routes import ApplicantView, CaseFileView, MaterialView, OpenedFile
from regions.api.models import StepResult
from regions.api.services import ApiServices
from regions.api.steps import StepRefused
from regions.policies import CasePolicies
from regions.tokens import Principal, Role, TokenStore
from tests.support.console import Clock, console_app, console_client, csrf_of, issue, sign_in
from workflows.deadlines import CST, working_days_left
from workflows.lifecycle import processing as B
from workflows.lifecycle.engine import Trigger
from workflows.models import (
    AcceptanceDecision,
    AutoPolicy,
    CaseProgress,
    CaseTimings,
    Decision,
    PersonInput,
    SupplementRequest,
)

CASE = "350000-20260928-OFFICE01"
A, B_REGION = "350000", "440000"
MANUAL = AutoPolicy(
    formal_review="manual", acceptance="manual", decision="manual", delivery="manual"
)
REAL_DAYS = CaseTimings()
ITEM = "GG-00102-000"
PDF_DIGEST, PNG_DIGEST, OFD_DIGEST = "a" * 64, "b" * 64, "c" * 64


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CST)


class Processing:
    """B's lifecycle model driven by hand, as the processing workflow drives it."""

    def __init__(self, timings: CaseTimings = REAL_DAYS) -> None:
        self.begin = B.ProcessingStart(
            case_no=CASE,
            processing_region=B_REGION,
            promised_working_days=10,
            statutory_working_days=20,
            policy=MANUAL,
            timings=timings,
        )
        self.state = B.start(self.begin)

    def move(self, trigger: Trigger[B.On], now: datetime) -> None:
        result = B.step(self.begin, self.state, trigger, now)
        assert result.applied
        self.state = result.state

    def event(self, kind: EventType, step: str, now: datetime, **data: Any) -> InboundEvent:
        return InboundEvent(
            event_id=event_id_for(CASE, step, A),
            type=kind,
            sender_region=A,
            time=now,
            data={"case_no": CASE, **data},
        )

    def receive(self, now: datetime) -> None:
        given = self.event(EventType.FORWARDED, "forwarded", now, materials=[])
        self.move(Trigger(B.On.FORWARDED, "event", given, event_id=given.event_id), now)

    def supplied(self, now: datetime) -> None:
        given = self.event(EventType.SUPPLEMENT_PROVIDED, "supplement-provided:1", now)
        self.move(Trigger(B.On.SUPPLEMENT_PROVIDED, "event", given, event_id=given.event_id), now)

    def person(
        self, given: AcceptanceDecision | SupplementRequest | Decision, now: datetime
    ) -> None:
        self.move(B.input_trigger(given), now)

    def progress(self) -> CaseProgress:
        s = self.state
        return CaseProgress(
            case_no=s.case_no,
            region=s.region,
            status=s.status,
            closed=s.closed,
            deadline=s.deadline,
            statutory_deadline=s.statutory_deadline,
            overdue=s.overdue,
            steps=s.steps,
        )


# --- the clocks ---------------------------------------------------------------------------


def test_the_acceptance_clock_is_the_one_the_workflow_runs() -> None:
    """Received Mon Sep 28 2026: five working days skip the National Day week and end on Sat
    Oct 10 (调休); after a 补正 asked before acceptance, the clock counts again from its arrival."""
    b = Processing()
    b.receive(at(9, 28))
    assert b.state.due == datetime(2026, 10, 10, 23, 59, 59, tzinfo=CST)
    assert office.acceptance_due(b.progress(), REAL_DAYS) == b.state.due
    shown = office.limits(b.progress(), REAL_DAYS, at(9, 30))
    assert [(d.label, d.at, d.days_left, d.overdue) for d in shown] == [
        ("受理期限（5 个工作日）", b.state.due, 3, False)
    ]
    assert shown[0].left == "剩 3 个工作日"

    b.person(SupplementRequest(missing=("户口簿",)), at(9, 29))
    assert office.acceptance_due(b.progress(), REAL_DAYS) is None
    b.supplied(at(10, 12))
    assert b.state.due is not None
    assert office.acceptance_due(b.progress(), REAL_DAYS) == b.state.due
    assert office.received_at(b.progress()) == at(10, 12)


def test_a_scaled_clock_counts_its_own_working_days() -> None:
    fast = CaseTimings(working_day=timedelta(seconds=5))
    b = Processing(fast)
    b.receive(at(9, 28))
    assert (
        office.acceptance_due(b.progress(), fast)
        == b.state.due
        == at(9, 28) + timedelta(seconds=25)
    )
    (due,) = office.limits(b.progress(), fast, at(9, 28) + timedelta(seconds=11))
    assert due.days_left == 2
    (late,) = office.limits(b.progress(), fast, at(9, 28) + timedelta(seconds=26))
    assert (late.overdue, late.left, late.css) == (True, "已超期", "overdue")


def test_accepted_cases_show_both_time_limits_and_a_补正_pauses_them() -> None:
    b = Processing()
    b.receive(at(9, 28))
    b.person(AcceptanceDecision(accept=True), at(9, 29))
    now = at(9, 30)
    promised, statutory = office.limits(b.progress(), REAL_DAYS, now)
    assert (promised.label, promised.at) == ("承诺时限", b.state.deadline)
    assert (statutory.label, statutory.at) == ("法定时限", b.state.statutory_deadline)
    assert b.state.deadline is not None
    assert promised.days_left == working_days_left(now, b.state.deadline)
    assert not promised.paused

    b.person(SupplementRequest(missing=("户口簿",)), at(9, 30))
    paused = office.limits(b.progress(), REAL_DAYS, at(10, 30))
    assert [d.paused for d in paused] == [True, True]
    assert paused[0].left == "计时暂停（待补正）"
    assert not paused[0].overdue  # a paused clock is not overdue, whatever the date


def _row(case_no: str, limits: tuple[office.Due, ...]) -> office.QueueRow:
    return office.QueueRow(case_no, ITEM, "事项", "福建省（350000）", "processing", "办理中",
                           at(9, 1), limits, False)  # fmt: skip


def test_the_queue_puts_the_soonest_running_clock_first_then_paused_cases() -> None:
    def due(day: int, paused: bool = False) -> office.Due:
        return office.Due("承诺时限", at(10, day), 1, False, paused)

    rows = [
        _row("350000-20260901-PAUSED01", (due(1, paused=True),)),
        _row("350000-20260901-LATER001", (due(20),)),
        _row("350000-20260901-NOCLOCK1", ()),
        _row("350000-20260901-SOONEST1", (due(25), due(9))),
    ]
    assert [r.case_no for r in office.sort_queue(rows)] == [
        "350000-20260901-SOONEST1",
        "350000-20260901-LATER001",
        "350000-20260901-PAUSED01",
        "350000-20260901-NOCLOCK1",
    ]


# --- the steps offered --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "policy", "expected"),
    [
        ("received", MANUAL, {"accept", "not-accept", "supplement"}),
        ("processing", MANUAL, {"supplement", "approve", "deny"}),
        ("supplement-requested", MANUAL, set()),
        ("result-sent", MANUAL, set()),
        ("closed", MANUAL, set()),
        ("not-accepted", MANUAL, set()),
        ("received", AutoPolicy(acceptance="accept", decision="manual"), set()),
        ("processing", AutoPolicy(acceptance="manual", decision="approve"), set()),
    ],
)
def test_the_steps_offered_are_the_ones_the_workflow_would_take(
    status: str, policy: AutoPolicy, expected: set[str]
) -> None:
    assert office.offered(status, policy, CASE, B_REGION) == expected


# --- the forms ----------------------------------------------------------------------------


def test_the_missing_list_is_the_ticked_materials_and_each_typed_line_once() -> None:
    form = FormData(
        [
            ("missing", "户口簿"),
            ("missing", "结婚证"),
            ("missing_other", "身份证复印件不清晰\r\n\r\n  户口簿 \n近期照片"),
        ]
    )
    assert office.missing_of(form) == ("户口簿", "结婚证", "身份证复印件不清晰", "近期照片")


def test_forms_make_the_workflows_inputs_or_say_what_is_missing() -> None:
    assert office.acceptance_input(FormData([("decision", "accept")])) == (
        "accept",
        AcceptanceDecision(accept=True),
    )
    done, refused = office.acceptance_input(
        FormData([("decision", "not-accept"), ("not_accept_reason", " 不属于本机关职权 ")])
    )
    assert (done, refused) == (
        "not-accept",
        AcceptanceDecision(accept=False, reason="不属于本机关职权"),
    )
    with pytest.raises(office.FormIncomplete) as no_reason:
        office.acceptance_input(FormData([("decision", "not-accept"), ("not_accept_reason", " ")]))
    assert no_reason.value.refusal.rule == "reason_required"
    assert "理由" in no_reason.value.refusal.message
    with pytest.raises(office.FormIncomplete) as nothing_missing:
        office.supplement_input(FormData([("supplement_reason", "请补充")]))
    assert nothing_missing.value.refusal.rule == "missing_required"
    assert office.decision_input(
        FormData([("outcome", "deny"), ("deny_reason", "不符合条件")])
    ) == (
        "deny",
        Decision(approve=False, reason="不符合条件"),
    )
    with pytest.raises(office.FormIncomplete) as too_long:
        office.decision_input(FormData([("outcome", "approve"), ("approve_reason", "长" * 2001)]))
    assert too_long.value.refusal.rule == "input_invalid"
    assert "长长" not in too_long.value.refusal.message  # the rule, never the text typed


def test_a_refused_step_reads_in_chinese() -> None:
    rule = office.step_refusal(
        StepRefused("补正 is notified once", "one_time_notice"), "processing"
    )
    assert (rule.status, rule.rule) == (409, "one_time_notice")
    assert "一次性告知" in rule.message
    state = office.step_refusal(StepRefused("case is closed"), "closed")
    assert state.rule == "step_not_allowed"
    assert "办结" in state.message


# --- the pages, over stand-ins for the case file and the step --------------------------------


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    store = KeyStore(tmp_path_factory.mktemp("trust"))
    store.bootstrap(
        {A: ("福建省", None), B_REGION: ("广东省", None)},
        validity=timedelta(days=30),
        now=datetime.now(UTC) - timedelta(days=1),
    )
    return store


def _opened(status: str = "received") -> OpenedFile:
    b = Processing()
    b.receive(datetime.now(UTC) - timedelta(hours=1))
    seen = b.progress().model_copy(update={"status": status})
    view = CaseFileView(
        case_no=CASE,
        side="processing",
        status=status,
        item_code=ITEM,
        item_version=1,
        item_name="社会保障卡申领",
        origin_region=A,
        processing_region=B_REGION,
        applicant=ApplicantView(
            name="张三丰", id_number="110101199003070000", phone="13800000000", address="福州"
        ),
        materials=(
            MaterialView(name="居民身份证", sha256=PDF_DIGEST, size=1000,
                         media_type="application/pdf", has_file=True, complete=True,
                         originals_checked=OriginalsChecked(by="fz-01 王芳", at=at(9, 28))),
            MaterialView(name="照片", sha256=PNG_DIGEST, size=10, media_type="image/png",
                         has_file=True, complete=True),
            MaterialView(name="营业执照", sha256=OFD_DIGEST, size=10, media_type="application/ofd",
                         has_file=True, complete=True),
        ),
    )  # fmt: skip
    return OpenedFile(view, seen)


class Office:
    """What the stand-ins were asked (the office step's person and input)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str, PersonInput, Principal]] = []
        self.refuse: StepRefused | None = None


@pytest.fixture
async def officer(
    keystore: KeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncClient, Office]]:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    tokens = TokenStore(tmp_path / "tokens")
    app = console_app(
        B_REGION,
        tokens=tokens,
        sessions=MemorySessionStore(),
        credentials=RegionCredentials(keystore, B_REGION),
        clock=clock,
    )
    seen = Office()
    status = {"now": "received"}

    async def open_case_file(*args: Any) -> OpenedFile:
        return _opened(status["now"])

    async def case_documents(*args: Any) -> list[Any]:
        return []

    async def office_step(
        svc: Any, case_no: str, update: str, arg: PersonInput, caller: Principal
    ) -> StepResult:
        if seen.refuse is not None:
            raise seen.refuse
        seen.steps.append((case_no, update, arg, caller))
        return StepResult(case_no=case_no, status="processing", side="processing")

    async def open_material(*args: Any) -> tuple[CaseFile, bytes]:
        sha256 = args[5]
        media = {PDF_DIGEST: "application/pdf", OFD_DIGEST: "application/ofd"}[sha256]
        listed = CaseFile(CASE, sha256, "x", 9, media, (), complete_at=at(9, 28))
        return listed, b"%PDF-1.7\n"

    monkeypatch.setattr(office, "open_case_file", open_case_file)
    monkeypatch.setattr(office, "case_documents", case_documents)
    monkeypatch.setattr(office, "office_step", office_step)
    monkeypatch.setattr(office, "open_material", open_material)
    async with console_client(app) as http:
        token = issue(tokens, B_REGION, Role.PROCESSING_OFFICER, clock=clock)
        assert (await sign_in(http, token)).status_code == 303
        yield http, seen


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "textarea", "select") and found.get("type") != "hidden":
            self.controls.append(found)
        if tag == "label" and found.get("for"):
            self.labels.add(str(found["for"]))


def _unlabelled(page: str) -> list[str]:
    parsed = _Inputs()
    parsed.feed(page)
    return [
        str(c.get("name"))
        for c in parsed.controls
        if c.get("id") not in parsed.labels and not c.get("aria-label")
    ]


async def test_the_case_file_page_shows_the_applicant_materials_and_the_steps_allowed(
    officer: tuple[AsyncClient, Office],
) -> None:
    http, _ = officer
    page = await http.get(f"/console/office/cases/{CASE}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "张三丰" in text
    assert "110101199003070000" in text
    assert "受理期限（5 个工作日）" in text
    assert f'href="/console/office/cases/{CASE}/materials/{PDF_DIGEST}"' in text
    assert 'target="material-preview"' in text
    assert 'title="材料预览"' in text
    # OFD: downloaded, not framed.
    assert f"/materials/{OFD_DIGEST}/download" in text
    assert f'href="/console/office/cases/{CASE}/materials/{OFD_DIGEST}"' not in text
    assert "核验原件" in text
    assert "fz-01 王芳" in text
    for button in ("受理", "不予受理", "告知补正"):
        assert f">{button}</button>" in text
    assert ">准予许可</button>" not in text
    assert 'name="missing"' in text
    assert 'name="not_accept_reason"' in text
    assert _unlabelled(text) == []


async def test_a_step_is_taken_by_the_signed_in_officer_and_the_page_says_so(
    officer: tuple[AsyncClient, Office],
) -> None:
    http, seen = officer
    page = await http.get(f"/console/office/cases/{CASE}")
    answer = await http.post(
        f"/console/office/cases/{CASE}/acceptance",
        data={"csrf": csrf_of(page.text), "decision": "accept"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/office/cases/{CASE}?done=accept"
    ((case_no, update, arg, caller),) = seen.steps
    assert (case_no, update, arg) == (CASE, "decide_acceptance", AcceptanceDecision(accept=True))
    assert (caller.role, caller.person_id, caller.person_name) == (
        Role.PROCESSING_OFFICER,
        "O-0001",
        "陈志强",
    )
    shown = await http.get(answer.headers["location"])
    assert "已受理" in shown.text


async def test_a_refused_补正_keeps_the_list_and_says_why_in_chinese(
    officer: tuple[AsyncClient, Office],
) -> None:
    http, seen = officer
    page = await http.get(f"/console/office/cases/{CASE}")
    seen.refuse = StepRefused("补正 is notified once, as one complete list", "one_time_notice")
    answer = await http.post(
        f"/console/office/cases/{CASE}/supplement-request",
        data={
            "csrf": csrf_of(page.text),
            "missing": ["居民身份证"],
            "missing_other": "户口簿首页",
            "supplement_reason": "请补充",
        },
    )
    assert answer.status_code == 409
    assert "一次性告知" in answer.text
    assert "one_time_notice" in answer.text
    assert re.search(r'value="居民身份证" checked', answer.text)
    assert ">户口簿首页</textarea>" in answer.text
    assert seen.steps == []


async def test_an_empty_reason_is_refused_before_anything_is_sent(
    officer: tuple[AsyncClient, Office],
) -> None:
    http, seen = officer
    page = await http.get(f"/console/office/cases/{CASE}")
    answer = await http.post(
        f"/console/office/cases/{CASE}/acceptance",
        data={"csrf": csrf_of(page.text), "decision": "not-accept", "not_accept_reason": ""},
    )
    assert answer.status_code == 422
    assert "不予受理须写明理由" in answer.text
    assert seen.steps == []


async def test_a_step_without_the_csrf_token_is_not_taken(
    officer: tuple[AsyncClient, Office],
) -> None:
    http, seen = officer
    answer = await http.post(
        f"/console/office/cases/{CASE}/decision",
        data={"outcome": "approve", "approve_reason": "符合条件"},
    )
    assert answer.status_code == 403
    assert seen.steps == []


async def test_a_pdf_is_framed_by_the_page_and_an_ofd_downloaded(
    officer: tuple[AsyncClient, Office],
) -> None:
    http, _ = officer
    pdf = await http.get(f"/console/office/cases/{CASE}/materials/{PDF_DIGEST}")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline")
    assert pdf.headers["x-frame-options"] == "SAMEORIGIN"
    assert pdf.headers["content-security-policy"] == office.PREVIEW_CSP
    assert "frame-ancestors 'self'" in office.PREVIEW_CSP
    assert pdf.headers["cache-control"] == "no-store"
    ofd = await http.get(f"/console/office/cases/{CASE}/materials/{OFD_DIGEST}")
    assert ofd.headers["content-disposition"].startswith("attachment")
    assert ofd.headers["x-frame-options"] == "DENY"


async def test_a_clerk_cannot_open_the_office_pages(keystore: KeyStore, tmp_path: Path) -> None:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    tokens = TokenStore(tmp_path / "tokens")
    app = console_app(
        B_REGION,
        tokens=tokens,
        sessions=MemorySessionStore(),
        credentials=RegionCredentials(keystore, B_REGION),
        clock=clock,
    )
    async with console_client(app) as http:
        await sign_in(http, issue(tokens, B_REGION, Role.WINDOW_CLERK, clock=clock))
        page = await http.get(f"/console/office/cases/{CASE}")
        assert page.status_code == 403
        assert "无权打开此页面" in page.text
        assert "张三丰" not in page.text


def test_a_case_whose_workflow_cannot_answer_is_listed_from_its_search_attributes() -> None:
    services = ApiServices(
        region=B_REGION,
        pool=cast(Any, None),
        client=cast(Any, None),
        credentials=cast(Any, None),
        catalog=default_catalog(),
        policies=CasePolicies(),
        tokens=cast(Any, None),
    )
    listed = CaseRow(
        case_no=CASE,
        region=B_REGION,
        workflow_id=f"processing-{CASE}",
        status="processing",
        item_code=ITEM,
        origin_region=A,
        processing_region=B_REGION,
        deadline=at(10, 1),
        overdue=False,
        started_at=at(9, 28),
        running=True,
        last_change=None,
    )
    row = office.unread_row(services, listed, at(10, 2))
    assert row.unread
    assert (row.item_name, row.status_label, row.origin) == (
        "社会保障卡申领",
        "办理中",
        "福建省（350000）",
    )
    ((due,),) = (row.limits,)
    assert (due.label, due.at, due.overdue) == ("承诺时限", at(10, 1), True)
