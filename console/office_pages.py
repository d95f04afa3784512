"""The 办理 section of the console (office, region B): the incoming queue, the case file, and
the processing officer's steps (受理 / 不予受理 / 补正 / 准予 / 不予).

Pages over the API's own services (decision 0032); no rule is written twice:

- the queue is this region's open processing workflows as `tongban case list` finds them
  (`operators.listing.region_cases`), each read through its progress
  (`regions.api.cases.progress`). The 5-working-day acceptance clock (行政许可法 Art. 32) is the
  lifecycle's own: `DeadlineClock(timings.working_day).deadline(received, acceptance days)` from
  the last 已接收 step, with the node's timings for the item, as the processing workflow sets it
  (workflows/lifecycle/processing.py `_forwarded`, `_supplement_provided`);
- the case file is opened by `regions.api.file_routes.open_case_file` (its access log row is
  written first, and nothing is shown when it cannot be: fail closed), a material by
  `open_material` (framed by this page: `security.embeddable`), documents by
  `regions.api.document_routes.case_documents` / `open_document`;
- each step goes through `regions.api.office_routes.office_step` with the signed-in person;
  which steps the page offers is `workflows.lifecycle.processing.allows`, the Update
  validators' own question.

URLs carry case numbers, digests and document numbers only; everything a person types is POSTed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response
from temporalio.client import WorkflowQueryFailedError

from catalog.errors import CatalogError
from catalog.models import ServiceItem
from console.auth import PREFIX, CheckedForm, ConsoleServices, ConsoleUser, OfficerPage
from console.config import ConsoleState
from console.errors import PageError
from console.pages import Refusal, render, render_form
from console.security import embeddable
from operators.listing import CaseFilter, CaseRow, region_cases
from regions.access_log import PostgresAccessLog, Reader
from regions.api.cases import progress
from regions.api.document_routes import DocumentEntry, case_documents, open_document
from regions.api.file_routes import (
    CaseFileView,
    OpenedFile,
    case_evidence,
    case_stores,
    open_case_file,
    open_material,
)
from regions.api.office_routes import office_step
from regions.api.ownership import CaseNoPath
from regions.api.services import ApiServices
from regions.api.steps import StepRefused
from regions.codes import UnknownRegion, region
from regions.labels import status_label
from workflows.deadlines import DeadlineClock, working_days_left
from workflows.lifecycle import processing
from workflows.lifecycle.processing import On, Phase, ProcessingStart, ProcessingState
from workflows.models import (
    AcceptanceDecision,
    AutoPolicy,
    CaseProgress,
    CaseTimings,
    Decision,
    PersonInput,
    SupplementRequest,
)

router = APIRouter(prefix="/office")
M = TypeVar("M", bound=PersonInput)

# The access log names where an opening happened: the console's routes, beside the API's.
FILE_ROUTE = f"GET {PREFIX}/office/cases/{{case_no}}"
MATERIAL_ROUTE = f"GET {PREFIX}/office/cases/{{case_no}}/materials/{{sha256}}"
DOCUMENT_ROUTE = f"GET {PREFIX}/office/cases/{{case_no}}/documents/{{number}}"
QUEUE_LIMIT = 200

Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
Number = Annotated[str, Path(pattern=r"^\d{6}-\d{4}-[A-Z]{2}-\d{6,}$")]

# A previewed material is raw bytes of a checked type (nosniff), framed by this node's case file
# page only. Nothing may load with it but the image itself; inline style only for the document
# the browser builds around an image (Chromium's image and PDF viewers need no more).
PREVIEW_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"
)
# Media types a browser shows in the page's preview frame; others (OFD) are downloaded.
PREVIEWABLE = frozenset({"application/pdf", "image/jpeg", "image/png"})
EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "application/ofd": "ofd",
}
_S = processing.Status
_PAUSED = frozenset({_S.SUPPLEMENT_BEFORE_ACCEPTANCE, _S.SUPPLEMENT_REQUESTED})

# The officer's steps the page offers, as the lifecycle names their triggers.
ACTIONS: dict[str, On] = {
    "accept": On.ACCEPT,
    "not-accept": On.NOT_ACCEPT,
    "supplement": On.REQUEST_SUPPLEMENT,
    "approve": On.APPROVE,
    "deny": On.DENY,
}
# What the page says after a step was taken (the `done` query names the step, nothing else).
DONE: dict[str, str] = {
    "accept": "已受理。受理通知书正在生成，稍后在下方“已出具的文书”中可下载。",
    "not-accept": "已作出不予受理，理由已发送收件地窗口。",
    "supplement": "补正通知已发出（一次性告知），计时暂停，等待申请人通过收件地窗口补正。",
    "approve": "已准予许可，决定已发送收件地。",
    "deny": "已作出不予许可决定，理由已发送收件地。",
}
# Why a step was refused, in the words of the rule that refused it (workflows/lifecycle).
STEP_RULES_ZH: dict[str, str] = {
    "one_time_notice": "补正应一次性告知：本案已经告知过补正，再次告知只能针对申请人上次补正"
    "提交的材料所引出的问题，不能再补充列出新的缺件。",
    "supplement_without_earlier_round": "这是本案第一次告知补正，应一次列明所缺的全部材料，"
    "不能标为针对上次补正。",
    "supplement_concerns_other_materials": "再次告知补正须写明涉及申请人上次补正提交的哪些材料。",
}


# --- time limits --------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A time limit as the queue and the case file show it."""

    label: str  # 受理期限 / 承诺时限 / 法定时限
    at: datetime
    days_left: int
    overdue: bool
    paused: bool = False

    @property
    def left(self) -> str:
        if self.paused:
            return "计时暂停（待补正）"
        if self.overdue:
            return "已超期"
        if self.days_left == 0:
            return "今日到期"
        return f"剩 {self.days_left} 个工作日"

    @property
    def css(self) -> str:
        if self.paused:
            return "paused"
        if self.overdue:
            return "overdue"
        return "due-soon" if self.days_left <= 1 else ""


def days_left(now: datetime, at: datetime, working_day: timedelta | None) -> int:
    """Whole working days after today up to the limit's day, on the clock the workflow runs:
    the holiday calendar, or a scaled clock's working days (tests and demos)."""
    if working_day is not None:
        return max(0, (at - now) // working_day)
    return working_days_left(now, at)


def received_at(seen: CaseProgress) -> datetime | None:
    """When B last had the complete file (forwarded, or a 补正 asked before acceptance
    arrived): the acceptance clock counts from here (Art. 32)."""
    return next((s.at for s in reversed(seen.steps) if s.status == _S.RECEIVED), None)


def acceptance_due(seen: CaseProgress, timings: CaseTimings) -> datetime | None:
    """The acceptance deadline of a case waiting to be accepted, as its workflow set it."""
    if seen.status != _S.RECEIVED:
        return None
    since = received_at(seen)
    if since is None:
        return None
    return DeadlineClock(timings.working_day).deadline(since, timings.acceptance_working_days).at


def limits(seen: CaseProgress, timings: CaseTimings, now: datetime) -> tuple[Due, ...]:
    """The clocks that run (or stand paused) for the case now."""

    def due(label: str, at: datetime, paused: bool = False) -> Due:
        left = days_left(now, at, timings.working_day)
        return Due(label, at, left, overdue=not paused and at < now, paused=paused)

    found: list[Due] = []
    accept_by = acceptance_due(seen, timings)
    if accept_by is not None:
        days = timings.acceptance_working_days
        found.append(due(f"受理期限（{days} 个工作日）", accept_by))
    paused = seen.status in _PAUSED
    if seen.deadline is not None:
        found.append(due("承诺时限", seen.deadline, paused))
    if seen.statutory_deadline is not None:
        found.append(due("法定时限", seen.statutory_deadline, paused))
    return tuple(found)


# --- the queue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    case_no: str
    item_code: str
    item_name: str
    origin: str
    status: str
    status_label: str
    received_at: datetime | None
    limits: tuple[Due, ...]
    overdue: bool
    # The case's workflow did not answer its progress query: shown from its search attributes.
    unread: bool = False

    @property
    def next_due(self) -> datetime | None:
        running = [d.at for d in self.limits if not d.paused]
        return min(running) if running else None

    def order(self) -> tuple[int, float, str]:
        """Running clocks first, earliest limit first; then paused cases; then the rest, oldest
        first."""
        if self.next_due is not None:
            return (0, self.next_due.timestamp(), self.case_no)
        paused = [d.at for d in self.limits if d.paused]
        if paused:
            return (1, min(paused).timestamp(), self.case_no)
        return (2, self.received_at.timestamp() if self.received_at else 0.0, self.case_no)


def region_label(code: str | None) -> str:
    if not code:
        return ""
    try:
        return f"{region(code).name}（{code}）"
    except UnknownRegion:
        return code


def _item(svc: ApiServices, item_code: str) -> ServiceItem | None:
    try:
        return svc.catalog.resolve(item_code, svc.region)
    except (CatalogError, UnknownRegion):
        return None


def _timings(svc: ApiServices, item_code: str) -> CaseTimings:
    # Tests may build services without node policies: the lifecycle's own defaults then.
    return svc.policies.timings_for(item_code) if svc.policies is not None else CaseTimings()


def queue_row(
    svc: ApiServices, item_code: str, origin: str | None, seen: CaseProgress, now: datetime
) -> QueueRow:
    item = _item(svc, item_code)
    return QueueRow(
        case_no=seen.case_no,
        item_code=item_code,
        item_name=str(item.name) if item is not None else item_code,
        origin=region_label(origin),
        status=seen.status,
        status_label=status_label(seen.status, "processing"),
        received_at=received_at(seen),
        limits=limits(seen, _timings(svc, item_code), now),
        overdue=seen.overdue,
    )


def sort_queue(rows: list[QueueRow]) -> list[QueueRow]:
    return sorted(rows, key=QueueRow.order)


def unread_row(svc: ApiServices, found: CaseRow, now: datetime) -> QueueRow:
    """A case whose workflow cannot answer now (a worker of another version, a history it
    cannot replay): listed from its search attributes rather than hidden or failing the page."""
    item = _item(svc, found.item_code or "")
    timings = _timings(svc, found.item_code or "")
    deadline = found.deadline
    shown = (
        (Due("承诺时限", deadline, days_left(now, deadline, timings.working_day), deadline < now),)
        if deadline is not None
        else ()
    )
    return QueueRow(
        case_no=found.case_no,
        item_code=found.item_code or "",
        item_name=str(item.name) if item is not None else (found.item_code or ""),
        origin=region_label(found.origin_region),
        status=found.status or "",
        status_label=status_label(found.status, "processing"),
        received_at=found.started_at,
        limits=shown,
        overdue=found.overdue,
        unread=True,
    )


async def _progress(svc: ApiServices, case_no: str) -> CaseProgress | Exception | None:
    try:
        return await progress(svc.client, case_no, "processing")
    except WorkflowQueryFailedError as exc:
        return exc


async def incoming(svc: ApiServices, now: datetime) -> list[QueueRow]:
    """This region's open cases as processing region, soonest limit first."""
    wanted = CaseFilter(processing=svc.region, sides=("processing",), include_closed=False)
    async with svc.pool.acquire() as conn:
        found = await region_cases(svc.client, conn, svc.region, wanted, QUEUE_LIMIT)
    seen = await asyncio.gather(*(_progress(svc, r.case_no) for r in found))
    rows: list[QueueRow] = []
    for listed, answer in zip(found, seen, strict=True):
        if isinstance(answer, Exception):
            rows.append(unread_row(svc, listed, now))
        elif answer is not None and not answer.closed and answer.status != _S.WAITING:
            rows.append(queue_row(svc, listed.item_code or "", listed.origin_region, answer, now))
    return sort_queue(rows)


# --- what the officer may do ----------------------------------------------------------------


def offered(status: str, policy: AutoPolicy, case_no: str, region_code: str) -> frozenset[str]:
    """The steps a person may take now: the processing workflow's validators' own question
    (`processing.allows`), asked of the case's status and the item's policy."""
    try:
        phase = Phase(status)
    except ValueError:
        return frozenset()
    begin = ProcessingStart(case_no=case_no, processing_region=region_code, policy=policy)
    state = ProcessingState(case_no=case_no, region=region_code, status=status, phase=phase)
    return frozenset(key for key, kind in ACTIONS.items() if processing.allows(begin, state, kind))


def _policy(svc: ApiServices, item_code: str) -> AutoPolicy:
    if svc.policies is None:
        return AutoPolicy(acceptance="manual", decision="manual")
    return svc.policies.for_item(item_code)


def supplement_days(item: ServiceItem | None, timings: CaseTimings) -> int:
    """The applicant's time for a 补正, as the processing workflow counts it: the item's, else
    the node's default (ProcessingStart.supplement_working_days, then the timings')."""
    own = item.supplement_working_days if item is not None else None
    return own or timings.supplement_working_days


def missing_of(form: FormData) -> tuple[str, ...]:
    """The complete list of what is missing: the ticked materials, then one per line of the
    free text, each once, in that order."""
    ticked = [v for v in form.getlist("missing") if isinstance(v, str)]
    typed = _text(form, "missing_other").splitlines()
    found: dict[str, None] = {}
    for name in (*ticked, *typed):
        cleaned = str(name).strip()
        if cleaned:
            found[cleaned] = None
    return tuple(found)


class FormIncomplete(Exception):
    """What the officer must fill in before the step can be sent (422, the form kept)."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.refusal = Refusal(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "填写的内容不完整",
            message,
            rule,
            "请补全标出的内容后重新提交；页面已保留您填写的内容。",
        )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def acceptance_input(form: FormData) -> tuple[str, AcceptanceDecision]:
    decision = _text(form, "decision")
    if decision == "accept":
        return "accept", AcceptanceDecision(accept=True)
    if decision != "not-accept":
        raise FormIncomplete("请选择受理或不予受理。", "decision_required")
    reason = _text(form, "not_accept_reason")
    if not reason:
        raise FormIncomplete("不予受理须写明理由（将告知申请人）。", "reason_required")
    return "not-accept", _checked(lambda: AcceptanceDecision(accept=False, reason=reason))


def supplement_input(form: FormData) -> tuple[str, SupplementRequest]:
    missing = missing_of(form)
    if not missing:
        raise FormIncomplete(
            "告知补正须列出所缺的全部材料：勾选材料，或在“其他需补正的内容”中每行写一项。",
            "missing_required",
        )
    reason = _text(form, "supplement_reason")
    return "supplement", _checked(lambda: SupplementRequest(missing=missing, reason=reason))


def decision_input(form: FormData) -> tuple[str, Decision]:
    outcome = _text(form, "outcome")
    if outcome not in ("approve", "deny"):
        raise FormIncomplete("请选择准予或不予。", "outcome_required")
    reason = _text(form, f"{outcome}_reason")
    if not reason:
        what = "准予许可" if outcome == "approve" else "不予许可"
        raise FormIncomplete(f"{what}须写明理由（写入决定书）。", "reason_required")
    return outcome, _checked(lambda: Decision(approve=outcome == "approve", reason=reason))


def _checked(build: Callable[[], M]) -> M:
    try:
        made = build()
    except ValidationError as exc:
        # The rule broken (too long, too many), never the text typed.
        fields = "、".join(str(e.get("loc", ("表单",))[0]) for e in exc.errors())
        raise FormIncomplete(
            f"填写的内容不符合要求（{fields}）：理由最多 2000 字。", "input_invalid"
        ) from None
    return made


def step_refusal(exc: StepRefused, now_status: str) -> Refusal:
    """A refused step in Chinese: the rule's words, or the case's status that does not allow
    the step."""
    message = STEP_RULES_ZH.get(exc.rule) or (
        f"案件现在的状态是“{status_label(now_status, 'processing')}”，这一步现在不能办理"
        "（可能已由他人办理，或已按期限自动处理）。"
    )
    return Refusal(
        status.HTTP_409_CONFLICT,
        "这一步未被接受",
        message,
        exc.rule,
        "请核对下方案件的当前状态和办理记录；页面已保留您填写的内容。",
    )


# --- pages ----------------------------------------------------------------------------------


def _state(request: Request) -> ConsoleState:
    found: ConsoleState = request.app.state.console
    return found


def _reader(user: ConsoleUser) -> Reader:
    return Reader.of(user.principal(), user.token_id)


def _refused_opening(case_no: str, exc: HTTPException, svc: ApiServices) -> PageError:
    if exc.status_code == status.HTTP_403_FORBIDDEN:
        return PageError(
            Refusal(
                status.HTTP_403_FORBIDDEN,
                "不是本地区办理的案件",
                f"案件 {case_no} 的办理地不是{region_label(svc.region)}；办理人员只能打开本地区"
                "作为办理地的案件。",
                "not_processing_region",
                "请从“待办理案件”队列打开案件。",
            )
        )
    if exc.status_code == status.HTTP_404_NOT_FOUND:
        return PageError(
            Refusal(
                status.HTTP_404_NOT_FOUND,
                "文件不在本地区",
                f"案件 {case_no} 没有这份文件，或它还没有完整传到本地区。",
                "file_not_here",
                "请回到案卷页面刷新；文件传输完成后即可查看。",
            )
        )
    return PageError(Refusal(exc.status_code, "请求未被办理", "系统没有办理这个请求。"))


@router.get("/", name="office_index")
async def index(request: Request, user: OfficerPage, svc: ConsoleServices) -> Response:
    now = _state(request).now()
    rows = await incoming(svc, now)
    return render(
        request,
        "office/queue.html",
        {"title": "待办理案件", "rows": rows, "now": now, "region_label": region_label},
    )


async def _case_context(
    request: Request, user: ConsoleUser, svc: ApiServices, case_no: str
) -> dict[str, Any]:
    stores = case_stores(svc)
    caller = user.principal()
    try:
        opened: OpenedFile = await open_case_file(
            svc,
            stores,
            PostgresAccessLog(svc.pool),
            caller,
            _reader(user),
            case_no,
            case_evidence(svc),
            FILE_ROUTE,
        )
        documents: list[DocumentEntry] = await case_documents(svc, stores, caller, case_no)
    except HTTPException as exc:
        raise _refused_opening(case_no, exc, svc) from None
    view: CaseFileView = opened.view
    seen = opened.progress
    item = _item(svc, view.item_code)
    timings = _timings(svc, view.item_code)
    now = _state(request).now()
    policy = _policy(svc, view.item_code)
    return {
        "title": f"案卷 {case_no}",
        "case": view,
        "status_label": status_label(view.status, "processing"),
        "item": item,
        "origin": region_label(view.origin_region),
        "limits": limits(seen, timings, now) if seen is not None else (),
        "steps": seen.steps if seen is not None else (),
        "closed": seen.closed if seen is not None else False,
        "actions": offered(view.status, policy, case_no, svc.region),
        "policy": policy,
        "supplement_days": supplement_days(item, timings),
        "documents": documents,
        "previewable": PREVIEWABLE,
        "status_of": lambda code: status_label(code, "processing"),
        "region_label": region_label,
        "notice": DONE.get(request.query_params.get("done", "")),
    }


@router.get("/cases/{case_no}", name="office_case")
async def case_file(
    request: Request, case_no: CaseNoPath, user: OfficerPage, svc: ConsoleServices
) -> Response:
    context = await _case_context(request, user, svc, case_no)
    return render(request, "office/case.html", context)


async def _material(
    user: ConsoleUser, svc: ApiServices, case_no: str, sha256: str, *, inline: bool
) -> Response:
    try:
        listed, content = await open_material(
            case_stores(svc),
            PostgresAccessLog(svc.pool),
            user.principal(),
            _reader(user),
            case_no,
            sha256,
            MATERIAL_ROUTE,
        )
    except HTTPException as exc:
        raise _refused_opening(case_no, exc, svc) from None
    show = inline and listed.media_type in PREVIEWABLE
    filename = f"{sha256[:16]}.{EXTENSIONS.get(listed.media_type, 'bin')}"
    response = Response(
        content,
        media_type=listed.media_type,
        headers={
            # Never cached: a cached copy would be an opening the access log does not hold.
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'{"inline" if show else "attachment"}; filename="{filename}"',
        },
    )
    if not show:
        return response
    # Only the case file page of this node frames it (X-Frame-Options, frame-ancestors 'self').
    framed = embeddable(response)
    framed.headers["content-security-policy"] = PREVIEW_CSP
    return framed


@router.get("/cases/{case_no}/materials/{sha256}", name="office_material")
async def material_preview(
    case_no: CaseNoPath, sha256: Digest, user: OfficerPage, svc: ConsoleServices
) -> Response:
    """A material for the case file page's preview frame (PDF and images shown in place)."""
    return await _material(user, svc, case_no, sha256, inline=True)


@router.get("/cases/{case_no}/materials/{sha256}/download", name="office_material_download")
async def material_download(
    case_no: CaseNoPath, sha256: Digest, user: OfficerPage, svc: ConsoleServices
) -> Response:
    return await _material(user, svc, case_no, sha256, inline=False)


@router.get("/cases/{case_no}/documents/{number}", name="office_document")
async def document(
    case_no: CaseNoPath, number: Number, user: OfficerPage, svc: ConsoleServices
) -> Response:
    """A signed document of the case (受理通知书 …), downloaded as its PDF."""
    try:
        _, content = await open_document(
            svc,
            case_stores(svc),
            PostgresAccessLog(svc.pool),
            user.principal(),
            _reader(user),
            case_no,
            number,
            DOCUMENT_ROUTE,
        )
    except HTTPException as exc:
        raise _refused_opening(case_no, exc, svc) from None
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{number}.pdf"',
        },
    )


async def _take(
    request: Request,
    user: ConsoleUser,
    svc: ApiServices,
    case_no: str,
    form: FormData,
    update: str,
    parse: Any,
) -> Response:
    """Take the step the form asks for; on a refusal, the case file again with the form
    filled in as it was sent and the reason above it."""
    try:
        done, given = parse(form)
        await office_step(svc, case_no, update, given, user.principal())
    except FormIncomplete as exc:
        context = await _case_context(request, user, svc, case_no)
        return render_form(request, "office/case.html", context, form=form, error=exc.refusal)
    except StepRefused as exc:
        context = await _case_context(request, user, svc, case_no)
        refusal = step_refusal(exc, context["case"].status)
        return render_form(request, "office/case.html", context, form=form, error=refusal)
    except HTTPException as exc:
        raise _refused_opening(case_no, exc, svc) from None
    # The step's name only: nothing the officer typed goes into a URL.
    where = f"{PREFIX}/office/cases/{case_no}?done={done}"
    return RedirectResponse(where, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/cases/{case_no}/acceptance", name="office_acceptance")
async def acceptance(
    request: Request,
    case_no: CaseNoPath,
    user: OfficerPage,
    svc: ConsoleServices,
    form: CheckedForm,
) -> Response:
    """受理 (the time limits start) or 不予受理 with the reason."""
    return await _take(request, user, svc, case_no, form, "decide_acceptance", acceptance_input)


@router.post("/cases/{case_no}/supplement-request", name="office_supplement")
async def supplement_request(
    request: Request,
    case_no: CaseNoPath,
    user: OfficerPage,
    svc: ConsoleServices,
    form: CheckedForm,
) -> Response:
    """一次性告知补正: the complete list of what is missing; the clock pauses."""
    return await _take(request, user, svc, case_no, form, "request_supplement", supplement_input)


@router.post("/cases/{case_no}/decision", name="office_decision")
async def decision(
    request: Request,
    case_no: CaseNoPath,
    user: OfficerPage,
    svc: ConsoleServices,
    form: CheckedForm,
) -> Response:
    """准予 or 不予, with the reason; the result goes back to the accepting region."""
    return await _take(request, user, svc, case_no, form, "decide", decision_input)
