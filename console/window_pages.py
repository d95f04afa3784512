"""The 窗口 section of the console (window, region A, 收件地): the clerk's queue, a new
application (受理) from the catalog, and a case's page with the steps its status allows.

Every page is a view of the same services the API uses (decision 0032): the catalog's
`shared_item` decides which items the window may take for a processing region (as
`resolve_item` does), `submit_case` starts a case, the window API's route functions take the
steps (`formal_review`, `withdraw`, `deliver`, `provide_supplement`: `own_case` then
`take_step` with the signed-in person as `step_actor`), the case file and documents are the
API's `case_file`, `documents` and `document` (each opening in the access log), and the queue is
the operators' `region_cases` (search attributes: status and deadline). What is only here:
turning form fields into those inputs, and saying each refusal in Chinese.

Files come as the API's multipart form (`regions/api/uploads.py` `read_form`, with its caps);
the body is read by the page itself, so the CSRF field is checked with `check_csrf` before
anything is done with it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Request, status
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from catalog.catalog import implied_mode
from catalog.errors import CatalogError, UnknownItem
from catalog.models import ServiceItem
from console.auth import (
    CSRF_FIELD,
    PREFIX,
    CheckedForm,
    ConsoleServices,
    ConsoleUser,
    WindowClerkPage,
    check_csrf,
)
from console.errors import PageError
from console.pages import Refusal, render, render_form
from events.models import MAX_FILE_BYTES, Consent, ConsentMethod
from events.stores.postgres import PostgresStores
from events.trust import DirectoryError
from regions.access_log import PostgresAccessLog, Reader
from regions.api import window_routes
from regions.api.auth import step_actor
from regions.api.document_routes import Number, case_documents, open_document
from regions.api.file_routes import Digest, case_evidence, open_case_file, open_material
from regions.api.models import StepView
from regions.api.ownership import CaseNoPath
from regions.api.services import ApiServices
from regions.api.steps import StepRefused
from regions.api.uploads import (
    NAMES_FIELD,
    ORIGINALS_FIELD,
    UploadForm,
    material_files,
    read_form,
)
from regions.codes import REGIONS, UnknownRegion
from regions.labels import (
    UnknownStatus,
    outcome_label,
    resolve_status,
    status_label,
    status_labels,
)
from regions.material_files import MAX_CASE_FILE_BYTES, FileRefused, take_files
from regions.submission_keys import SubmissionKey
from regions.window import (
    Application,
    ApplicationRefused,
    resolve_item,
    submit_case,
    window_modes,
)
from workflows.lifecycle import intake
from workflows.models import DeliveryConfirmation, FormalReview, SupplementMaterials, Withdrawal

router: APIRouter = APIRouter(prefix="/window")

HOME = f"{PREFIX}/window/"
# The routes the access log names for what these pages open.
CASE_ROUTE = f"GET {HOME}cases/{{case_no}}"
DOCUMENT_ROUTE = f"GET {HOME}cases/{{case_no}}/documents/{{number}}"
MATERIAL_ROUTE = f"GET {HOME}cases/{{case_no}}/materials/{{sha256}}"
SUBMISSION_FIELD = "submission_key"
# 数据共享授权: the applicant signed their consent to data sharing, and in what capacity.
CONSENT_FIELD = "evidence_consent"
CONSENT_BY_FIELD = "consent_given_by"
CONSENT_BY = get_args(Consent.model_fields["given_by"].annotation)
APPLY_FIELDS = frozenset(
    {
        CSRF_FIELD,
        SUBMISSION_FIELD,
        "item_code",
        "item_version",
        "processing_region",
        "mode",
        "fee_fen",
        "applicant_name",
        "applicant_id_number",
        "applicant_phone",
        "applicant_address",
        NAMES_FIELD,
        ORIGINALS_FIELD,
        CONSENT_FIELD,
        CONSENT_BY_FIELD,
    }
)
SUPPLEMENT_FIELDS = frozenset({CSRF_FIELD, NAMES_FIELD, ORIGINALS_FIELD})
# As the API's Idempotency-Key header: visible ASCII, 8 to 128 characters.
_SUBMISSION_KEY = re.compile(r"^[!-~]{8,128}$")
# What the file inputs accept; the server decides by content (regions/material_files.py).
ACCEPT = ".pdf,.jpg,.jpeg,.png,.ofd,application/pdf,image/jpeg,image/png,application/ofd"
QUEUE_LIMIT = 200
# Extra 补正 rows whose material the clerk names (what the catalog's list does not hold).
EXTRA_SUPPLEMENT_ROWS = 2

# Each rule a refusal names, as the clerk reads it. The rule's code stays beside it (規則) so
# operators and the API's documentation can be looked up.
RULE_TEXT: Mapping[str, str] = {
    "unknown_item": "本地区或办理地的事项目录中没有这个事项。",
    "item_version_mismatch": "收件地与办理地使用的事项版本不同，不能跨地区办理；"
    "请刷新事项后重新填写。",
    "mode_not_allowed": "这个事项不允许在这两个地区之间以此方式办理。",
    "same_region": "办理地就是本地区，不需要跨地区代收。",
    "unknown_region": "办理地的行政区划代码不存在。",
    "missing_materials": "缺少必须由申请人提交的材料",
    "fee_mismatch": "表单上的收费与事项目录现行收费不一致；请重新打开事项后填写。",
    "too_many_materials": "材料数量超过一件申请的上限。",
    "material_entry_too_long": "材料名称过长。",
    "too_many_files": "文件数量超过一件申请的上限。",
    "file_too_large": f"文件超过单个文件的上限（{MAX_FILE_BYTES // (1024 * 1024)} MB）。",
    "case_files_too_large": "文件合计超过一件案件的上限"
    f"（{MAX_CASE_FILE_BYTES // (1024 * 1024)} MB）。",
    "file_type_not_allowed": "文件不是 PDF、JPEG、PNG 或 OFD（按文件内容判断，不看扩展名）。",
    "empty_file": "文件是空的（0 字节）。",
    "duplicate_material": "同一材料提交了两次。",
    "material_names_mismatch": "文件与材料名称对不上（表单不完整）。",
    "unknown_original": "勾选了“已核验原件”，但没有选择这份材料的文件。",
    "material_name_invalid": "材料名称须为 1 至 200 个字。",
    "unknown_part": "表单含有本页没有的栏目。",
    "malformed_upload": "表单没有完整送达（上传中断或格式不对）。",
    "field_too_large": "某一栏填写的内容过长。",
    "too_many_fields": "表单栏目过多。",
    "submission_key_invalid": "表单缺少防重复提交编号，请重新打开受理页面。",
    "consent_method": "数据共享授权的方式与办理渠道不符（窗口为签字确认，网办为网上确认）。",
    "id_number_checksum": "证件号码不符合《公民身份号码》（GB 11643）的格式或校验位。",
    "credit_code_checksum": "统一社会信用代码不符合 GB 32100 的格式或校验位。",
    "missing": "必须填写。",
    "string_too_short": "必须填写。",
    "string_too_long": "填写的内容过长。",
    "string_pattern_mismatch": "格式不对。",
    "int_parsing": "应为整数。",
    "value_error": "填写不完整。",
    "literal_error": "请从给出的选项中选择。",
    "supplement_without_material": "请至少为一份补正材料选择文件。",
    "one_time_notice": "补正须一次性告知：再次告知只能针对申请人上次补正提交的材料。",
    "supplement_without_earlier_round": "这是第一次告知补正，须一次列全所缺材料，"
    "不能勾选“仅涉及上次补正材料”。",
    "supplement_concerns_other_materials": "再次告知须列明它涉及上次补正中的哪些材料。",
    "step_not_allowed": "案件当前的状态不允许这一步。",
    "withdrawal_not_confirmed": "请勾选“申请人已确认撤回”后再提交。",
}  # fmt: skip

# What the form fields are called on the page (a validation refusal names these).
FIELD_LABELS: Mapping[str, str] = {
    "item_code": "事项编码",
    "item_version": "事项版本",
    "processing_region": "办理地",
    "fee_fen": "收费",
    "applicant_name": "申请人姓名",
    "applicant_id_number": "证件号码",
    "applicant_phone": "联系电话",
    "applicant_address": "联系地址",
    "missing": "所缺材料",
    "reason": "理由",
    "channel": "送达方式",
    "tracking_no": "邮件单号",
    "materials": "补正材料",
}

# Notices after a step (a step's code in the address, nothing about the person).
DONE: Mapping[str, str] = {
    "submitted": "已收件，案件已建立。请进行形式审查。",
    "formal-review": "形式审查结果已记录。",
    "supplement": "补正材料已收取。",
    "withdrawal": "撤回已记录。",
    "delivery": "结果送达已确认。",
}

DELIVERY_CHANNELS: tuple[tuple[str, str], ...] = (
    ("window", "窗口领取"),
    ("mail", "邮寄（须填写邮件单号）"),
    ("online", "网上送达"),
)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d} 元"


def _first(form: UploadForm, name: str) -> str:
    values = form.text.get(name, [])
    return values[0] if values else ""


def _kept(form: UploadForm) -> FormData:
    """The text the person sent, to fill the form in again (never the files)."""
    return FormData([(k, v) for k, values in form.text.items() for v in values])


# --- Refusals, in Chinese ------------------------------------------------------------------------


def rule_text(rule: str) -> str:
    return RULE_TEXT.get(rule, "未能通过系统规则检查。")


def application_refusal(
    exc: ApplicationRefused | FileRefused, names: Iterable[str] = (), missing: Sequence[str] = ()
) -> Refusal:
    """An application the window refused: the rule in Chinese, the material it concerns."""
    text = rule_text(exc.rule)
    if exc.rule == "missing_materials" and missing:
        text = f"{text}：{'、'.join(missing)}。"
    concerned = exc.message.split(":", 1)[0].strip()
    if concerned in set(names):
        text = f"{concerned}：{text}"
    return Refusal(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        "申请未被受理",
        text,
        exc.rule,
        "请按上面的说明改正后重新提交。页面已保留您填写的文字；出于安全，文件须重新选择。",
    )


def validation_refusal(exc: ValidationError, title: str = "填写的内容不符合要求") -> Refusal:
    """The fields that failed and why, never the values (they may be an ID number)."""
    lines = []
    for error in exc.errors():
        field = next((str(p) for p in error.get("loc", ()) if isinstance(p, str)), "")
        label = FIELD_LABELS.get(field, field or "表单")
        lines.append(f"{label}：{rule_text(str(error.get('type')))}")
    first = str(exc.errors()[0].get("type")) if exc.errors() else None
    return Refusal(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        title,
        "；".join(dict.fromkeys(lines)),
        first,
        "请改正标出的栏目后重新提交；页面已保留您填写的内容。",
    )


def invalid_fields(exc: ValidationError) -> frozenset[str]:
    return frozenset(
        str(p) for e in exc.errors() for p in e.get("loc", ())[:1] if isinstance(p, str)
    )


def step_refusal(exc: StepRefused) -> Refusal:
    # The workflow's reason is the lifecycle's own (English) sentence: shown after the rule's
    # Chinese so nothing it says is lost.
    return Refusal(
        status.HTTP_409_CONFLICT,
        "这一步未被接受",
        f"{rule_text(exc.rule)}（系统说明：{exc.reason}）",
        exc.rule,
        "请按案件当前的状态重新选择操作；页面已保留您填写的内容。",
    )


# --- The catalog, as the window may use it -------------------------------------------------------


@dataclass(frozen=True)
class Offered:
    """An item this window may take for the processing region, and how (the mode)."""

    item: ServiceItem
    mode: str


def peer_regions(svc: ApiServices) -> dict[str, str]:
    """The regions a case may go to: those of the signed trust directory (else GB/T 2260's),
    without this one, code → name, in code order."""
    try:
        directory = svc.credentials.directory() if svc.credentials else None
    except DirectoryError:
        directory = None
    if directory is not None:
        found = {r.code: r.name for r in directory.regions}
    else:
        found = {r.code: r.name for r in REGIONS.values()}
    return {code: found[code] for code in sorted(found) if code != svc.region}


def region_label(names: Mapping[str, str], code: str) -> str:
    name = names.get(code) or (REGIONS[code].name if code in REGIONS else "")
    return f"{name}（{code}）" if name else code


def offered(svc: ApiServices, processing: str, query: str = "") -> list[Offered]:
    """The catalog's items the window may accept for `processing`: exactly those the catalog's
    `shared_item` (what `resolve_item` asks at submission) does not refuse."""
    wanted = query.strip().lower()
    found: list[Offered] = []
    for listed in svc.catalog.items():
        if wanted and wanted not in listed.code.lower() and wanted not in listed.name.lower():
            continue
        try:
            item = svc.catalog.shared_item(listed.code, svc.region, processing)
        except (CatalogError, UnknownRegion):
            continue
        found.append(Offered(item, implied_mode(svc.region, processing).value))
    return found


def shared_or_refused(svc: ApiServices, item_code: str, processing: str) -> Offered:
    """The item for the form, or the error page naming the rule a submission would break."""
    try:
        item = svc.catalog.shared_item(item_code, svc.region, processing)
    except (CatalogError, UnknownRegion) as exc:
        # The window's own naming of the catalog's refusals: resolve_item gives the rule.
        probe = Application.model_construct(
            item_code=item_code,
            item_version=None,
            processing_region=processing,
            applicant_name="",
            applicant_id_number="",
            applicant_phone="",
        )
        try:
            resolve_item(svc.catalog, probe, svc.region, tolerate_missing=True)
            rule = "unknown_item"
        except ApplicationRefused as refused:
            rule = refused.rule
        raise PageError(
            Refusal(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "这个事项不能在本窗口代收",
                rule_text(rule),
                rule,
                "请回到事项列表，选择列出的事项。",
            )
        ) from exc
    return Offered(item, implied_mode(svc.region, processing).value)


# --- The queue --------------------------------------------------------------------------------


@router.get("/", name="window_index")
async def queue(
    request: Request,
    user: WindowClerkPage,
    svc: ConsoleServices,
    status_filter: Annotated[str | None, Query(alias="status", max_length=40)] = None,
) -> Response:
    """The window's open cases (this region as the accepting region), newest first."""
    code = None
    error = None
    if status_filter:
        try:
            code = resolve_status(status_filter, "origin").code
        except UnknownStatus:
            error = Refusal(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "没有这个状态",
                "筛选的状态不是窗口案件的状态。",
                "unknown_status",
                "请从列表中选择状态。",
            )
    # Here, not at the top: operators.listing reaches the node's modules, which mount the console.
    from operators.listing import CaseFilter, CaseRow, region_cases

    rows: list[CaseRow] = []
    if error is None:
        wanted = CaseFilter(status=code, origin=svc.region, include_closed=False, sides=("origin",))
        async with svc.pool.acquire() as conn:
            rows = await region_cases(svc.client, conn, svc.region, wanted, QUEUE_LIMIT)
        rows.sort(key=lambda r: r.started_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    resting = {p.value for p in intake.Phase if p not in intake.TERMINAL}
    open_statuses = [(c, name) for c, name in status_labels("origin").items() if c in resting]
    names = peer_regions(svc)
    return render(
        request,
        "window/queue.html",
        {
            "title": "窗口待办",
            "page": "queue",
            "rows": [
                {
                    "row": r,
                    "status_label": status_label(r.status, "origin"),
                    "item_name": _item_name(svc, r.item_code),
                    "processing": region_label(names, r.processing_region or ""),
                }
                for r in rows
            ],
            "statuses": open_statuses,
            "chosen_status": code or "",
            "error": error,
            "limit": QUEUE_LIMIT,
        },
        status_code=error.status if error else status.HTTP_200_OK,
    )


def _item_name(svc: ApiServices, code: str | None) -> str:
    if not code:
        return ""
    try:
        return str(svc.catalog.resolve(code, svc.region).name)
    except (UnknownItem, UnknownRegion):
        return ""


# --- A new application ---------------------------------------------------------------------


@router.get("/apply", name="window_pick_item")
async def pick_item(
    request: Request,
    user: WindowClerkPage,
    svc: ConsoleServices,
    processing_region: Annotated[str | None, Query(max_length=6)] = None,
    q: Annotated[str, Query(max_length=60)] = "",
) -> Response:
    """Choose the processing region and find the item by its name or code."""
    regions = peer_regions(svc)
    chosen = processing_region if processing_region in regions else None
    return render(
        request,
        "window/pick.html",
        {
            "title": "新建受理：选择事项",
            "page": "apply",
            "regions": list(regions.items()),
            "chosen_region": chosen or "",
            "chosen_region_label": region_label(regions, chosen) if chosen else "",
            "q": q,
            "offered": offered(svc, chosen, q) if chosen else [],
            "unknown_region": bool(processing_region) and chosen is None,
        },
    )


def _apply_context(
    svc: ApiServices,
    offer: Offered,
    processing: str,
    *,
    invalid: Iterable[str] = (),
    missing: Iterable[str] = (),
) -> dict[str, Any]:
    item = offer.item
    return {
        "title": f"受理：{item.name}",
        "page": "apply",
        "item": item,
        "mode": offer.mode,
        # The modes the item allows at a window between these regions (decision 0034).
        "modes": [m.value for m in window_modes(item, svc.region, processing)],
        "processing_region": processing,
        "processing_label": region_label(peer_regions(svc), processing),
        "fee_label": _yuan(item.fee_fen) if item.fee_fen else "不收费",
        "submission_key": secrets.token_urlsafe(18),
        "accept": ACCEPT,
        "max_file_bytes": MAX_FILE_BYTES,
        "max_case_bytes": MAX_CASE_FILE_BYTES,
        "invalid": frozenset(invalid),
        "missing": frozenset(missing),
        # Materials the processing region fetches by data sharing once the applicant consents.
        "shared_materials": [m.name for m in item.evidence_materials()],
        "consent_by": CONSENT_BY,
    }


@router.get("/apply/{item_code}", name="window_apply_form")
async def apply_form(
    request: Request,
    item_code: str,
    user: WindowClerkPage,
    svc: ConsoleServices,
    processing_region: Annotated[str, Query(min_length=6, max_length=6)],
) -> Response:
    """The form the item asks for: applicant, materials (mandatory, by data sharing), fee."""
    offer = shared_or_refused(svc, item_code, processing_region)
    return render(request, "window/apply.html", _apply_context(svc, offer, processing_region))


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


@router.post("/apply", name="window_submit")
async def submit(request: Request, user: WindowClerkPage, svc: ConsoleServices) -> Response:
    """Take the application: the same `submit_case` as `POST /window/cases`, with the form's
    submission key as its Idempotency-Key (a double submit gets the one case)."""
    form = UploadForm(text_names=APPLY_FIELDS)
    try:
        await read_form(request, form)
    except ApplicationRefused as exc:
        # Read no further; the csrf field comes first, so a forged form stops here too.
        _check_csrf_if_read(user, form)
        return _refused_application(request, svc, form, application_refusal(exc))
    check_csrf(user, _first(form, CSRF_FIELD))
    caller = user.principal()
    names = form.text.get(NAMES_FIELD, [])
    try:
        files = material_files(form, caller, skip_unchosen=True)
    except ApplicationRefused as exc:
        return _refused_application(request, svc, form, application_refusal(exc, names))
    key = _first(form, SUBMISSION_FIELD)
    if not _SUBMISSION_KEY.match(key):
        refusal = application_refusal(ApplicationRefused("submission_key_invalid", ""))
        return _refused_application(request, svc, form, refusal)
    try:
        application = Application(
            item_code=_first(form, "item_code"),
            item_version=_int(_first(form, "item_version")),
            processing_region=_first(form, "processing_region"),
            applicant_name=_first(form, "applicant_name").strip(),
            applicant_id_number=_first(form, "applicant_id_number").strip().upper(),
            applicant_phone=_first(form, "applicant_phone").strip(),
            applicant_address=_first(form, "applicant_address").strip(),
            fee_fen=_int(_first(form, "fee_fen")) or 0,
            mode=_first(form, "mode") or None,
            evidence_consent=_signed_consent(form, user),
        )
    except ValidationError as exc:
        return _refused_application(
            request, svc, form, validation_refusal(exc, "申请未被受理"), invalid_fields(exc)
        )
    try:
        handle = await submit_case(
            pool=svc.pool,
            client=svc.client,
            credentials=svc.credentials,
            application=application,
            policies=svc.policies,
            catalog=svc.catalog,
            submission=SubmissionKey(window=user.window, key=key),
            files=files,
            received_by=step_actor(caller),  # 收件: the signed-in clerk
        )
    except ApplicationRefused as exc:
        missing: tuple[str, ...] = ()
        if exc.rule == "missing_materials":
            offer = shared_or_refused(svc, application.item_code, application.processing_region)
            missing = offer.item.missing_materials(f.name for f in files)
        refusal = application_refusal(exc, names, missing)
        return _refused_application(request, svc, form, refusal, missing=missing)
    case_no = handle.id.removeprefix("intake-")
    return RedirectResponse(
        f"{HOME}cases/{case_no}?done=submitted", status_code=status.HTTP_303_SEE_OTHER
    )


def _signed_consent(form: UploadForm, user: ConsoleUser) -> Consent | None:
    """The consent the clerk records as the applicant signed it, now; None when not ticked."""
    if "on" not in form.text.get(CONSENT_FIELD, []):
        return None
    return Consent.model_validate(
        {
            "given_by": _first(form, CONSENT_BY_FIELD) or CONSENT_BY[0],
            "method": ConsentMethod.WINDOW_SIGNATURE,
            "at": datetime.now(UTC),
            "recorded_by": f"{user.region} {user.window} {user.display_name}"[:100],
        }
    )


def _check_csrf_if_read(user: ConsoleUser, form: UploadForm) -> None:
    if CSRF_FIELD in form.text:
        check_csrf(user, _first(form, CSRF_FIELD))


def _refused_application(
    request: Request,
    svc: ApiServices,
    form: UploadForm,
    refusal: Refusal,
    invalid: Iterable[str] = (),
    *,
    missing: Iterable[str] = (),
) -> Response:
    processing = _first(form, "processing_region")
    offer = shared_or_refused(svc, _first(form, "item_code"), processing)
    context = _apply_context(svc, offer, processing, invalid=invalid, missing=missing)
    return render_form(request, "window/apply.html", context, form=_kept(form), error=refusal)


# --- A case ------------------------------------------------------------------------------------


def person_steps(status_code: str | None) -> frozenset[intake.On]:
    """The people's steps the lifecycle's table allows in the case's status (its phase); the
    workflow's validator still decides (an automatic policy may hold a step)."""
    try:
        phase = intake.Phase(status_code or "")
    except ValueError:
        return frozenset()
    return frozenset(on for on in intake.PERSON_STEPS if intake.TABLE.allows(phase, on))


_ASKED = frozenset(
    {
        intake.Status.SUPPLEMENT_PENDING,
        intake.Status.SUPPLEMENT_BEFORE_ACCEPTANCE,
        intake.Status.SUPPLEMENT_REQUESTED,
    }
)


async def _case_context(
    request: Request, user: ConsoleUser, svc: ApiServices, case_no: str
) -> dict[str, Any]:
    caller = user.principal()
    stores = PostgresStores(svc.pool)
    # The API's own reads: the case file (its opening written to the access log first, under
    # this page's route) with the workflow's progress, and the documents of the case.
    opened = await open_case_file(
        svc,
        stores,
        PostgresAccessLog(svc.pool),
        caller,
        Reader.of(caller, user.token_id),
        case_no,
        case_evidence(svc),
        route=CASE_ROUTE,
    )
    case_file, seen = opened.view, opened.progress
    documents = await case_documents(svc, stores, caller, case_no)
    item = None
    try:
        resolved = svc.catalog.resolve(case_file.item_code, svc.region)
        item = resolved if resolved.version == case_file.item_version else None
    except (UnknownItem, UnknownRegion):
        item = None
    status_code = seen.status if seen else case_file.status
    steps = person_steps(status_code) if seen is not None and not seen.closed else frozenset()
    on_file = list(dict.fromkeys(m.name for m in case_file.materials))
    asked_steps = [s for s in seen.steps if s.status in _ASKED] if seen else []
    last_asked = asked_steps[-1].detail if asked_steps else ""
    item_names = [m.name for m in item.materials] if item else []
    asked_names = [n for n in item_names if last_asked and n in last_asked]
    return {
        "title": f"案件 {case_no}",
        "page": "case",
        "outcome_label": outcome_label(seen.outcome) if seen else None,
        "case_no": case_no,
        "file": case_file,
        "item": item,
        "status_label": status_label(status_code, "origin"),
        "progress": seen,
        "timeline": [StepView.of(s, "origin") for s in seen.steps] if seen else [],
        "documents": documents,
        "processing_label": region_label(peer_regions(svc), case_file.processing_region),
        "can": {
            "review": bool(
                steps
                & {intake.On.REVIEW_PASSED, intake.On.REVIEW_SUPPLEMENT, intake.On.REVIEW_REFUSED}
            ),
            "supplement": intake.On.SUPPLEMENT_PROVIDED in steps,
            "withdraw": intake.On.WITHDRAW in steps,
            "deliver": intake.On.DELIVERED in steps,
        },
        "review_rounds": len([s for s in asked_steps if s.status == "supplement-pending"]),
        "suggested_missing": frozenset(item.missing_materials(on_file)) if item else frozenset(),
        "item_materials": item.materials if item else (),
        "on_file": on_file,
        "last_asked": last_asked,
        "supplement_rows": [
            *asked_names,
            *(n for n in item_names if n not in asked_names),
        ],
        "extra_rows": range(EXTRA_SUPPLEMENT_ROWS),
        "accept": ACCEPT,
        "max_file_bytes": MAX_FILE_BYTES,
        "max_case_bytes": MAX_CASE_FILE_BYTES,
        "channels": DELIVERY_CHANNELS,
        "done": DONE.get(request.query_params.get("done", "")),
    }


@router.get("/cases/{case_no}", name="window_case")
async def case_page(
    request: Request, case_no: CaseNoPath, user: WindowClerkPage, svc: ConsoleServices
) -> Response:
    """The case at the window: status, due dates, case file, timeline, documents, and the
    steps its status allows."""
    return render(request, "window/case.html", await _case_context(request, user, svc, case_no))


async def _case_refused(
    request: Request,
    user: ConsoleUser,
    svc: ApiServices,
    case_no: str,
    form: FormData,
    refusal: Refusal,
    action: str,
) -> Response:
    context = await _case_context(request, user, svc, case_no)
    context["done"] = None
    context["refused_action"] = action
    return render_form(request, "window/case.html", context, form=form, error=refusal)


def _done(case_no: str, step: str) -> Response:
    return RedirectResponse(
        f"{HOME}cases/{case_no}?done={step}", status_code=status.HTTP_303_SEE_OTHER
    )


async def _take(
    request: Request,
    user: ConsoleUser,
    svc: ApiServices,
    case_no: str,
    form: FormData,
    action: str,
    done: str,
    take: Callable[[], Awaitable[object]],
    refine: Callable[[ValidationError, Refusal], Refusal] = lambda _exc, refusal: refusal,
) -> Response:
    """Take a step (`take` builds the step's input and takes it); a refusal, by the input's
    model or by the workflow, re-renders the case page with what was typed kept."""
    try:
        await take()
    except ValidationError as exc:
        refusal = refine(exc, validation_refusal(exc))
    except StepRefused as exc:
        refusal = step_refusal(exc)
    else:
        return _done(case_no, done)
    return await _case_refused(request, user, svc, case_no, form, refusal, action)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in re.split(r"[\n、，,；;]+", text) if line.strip()]


@router.post("/cases/{case_no}/formal-review", name="window_formal_review")
async def formal_review(
    request: Request,
    case_no: CaseNoPath,
    user: WindowClerkPage,
    svc: ConsoleServices,
    form: CheckedForm,
) -> Response:
    """形式审查: pass, 一次性告知 (the complete list: the item's materials ticked plus any
    the clerk adds), or refuse with the reason."""
    outcome = str(form.get("outcome", ""))
    missing = [str(v) for v in form.getlist("missing")] + _lines(str(form.get("missing_other", "")))
    reason_field = "refuse_reason" if outcome == "refuse" else "reason"

    async def take() -> None:
        review = FormalReview(
            outcome=outcome,  # pydantic checks the literal
            missing=tuple(dict.fromkeys(missing)) if outcome == "supplement" else (),
            reason=str(form.get(reason_field, "")).strip(),
            concerns_new_materials=form.get("concerns_new_materials") == "on",
            concerning=tuple(str(v) for v in form.getlist("concerning")),
        )
        await window_routes.formal_review(case_no, review, user.principal(), svc)

    return await _take(request, user, svc, case_no, form, "review", "formal-review", take)


@router.post("/cases/{case_no}/supplement", name="window_supplement")
async def supplement(
    request: Request, case_no: CaseNoPath, user: WindowClerkPage, svc: ConsoleServices
) -> Response:
    """补正 intake: the files for the materials asked for, as `POST .../supplement` takes
    them (read with the upload's caps; the CSRF field first)."""
    form = UploadForm(text_names=SUPPLEMENT_FIELDS)
    caller = user.principal()
    try:
        await read_form(request, form)
        check_csrf(user, _first(form, CSRF_FIELD))
        files = material_files(form, caller, skip_unchosen=True)
        described = take_files(files)
        materials = SupplementMaterials(materials=tuple(ref for ref, _ in described))
    except ApplicationRefused as exc:
        _check_csrf_if_read(user, form)
        refusal = application_refusal(exc, form.text.get(NAMES_FIELD, []))
        return await _supplement_refused(request, user, svc, case_no, form, refusal)
    except FileRefused as exc:
        refusal = application_refusal(exc, form.text.get(NAMES_FIELD, []))
        return await _supplement_refused(request, user, svc, case_no, form, refusal)
    except ValidationError:
        refusal = application_refusal(ApplicationRefused("supplement_without_material", ""))
        return await _supplement_refused(request, user, svc, case_no, form, refusal)
    try:
        await window_routes.provide_supplement(svc, case_no, materials, described, caller)
    except StepRefused as exc:
        return await _supplement_refused(request, user, svc, case_no, form, step_refusal(exc))
    return _done(case_no, "supplement")


async def _supplement_refused(
    request: Request,
    user: ConsoleUser,
    svc: ApiServices,
    case_no: str,
    form: UploadForm,
    refusal: Refusal,
) -> Response:
    kept = _kept(form)
    return await _case_refused(request, user, svc, case_no, kept, refusal, "supplement")


@router.post("/cases/{case_no}/withdrawal", name="window_withdrawal")
async def withdrawal(
    request: Request,
    case_no: CaseNoPath,
    user: WindowClerkPage,
    svc: ConsoleServices,
    form: CheckedForm,
) -> Response:
    """The applicant withdraws (the reason, and the clerk's tick that the applicant confirmed);
    what was done is compensated."""
    if form.get("confirmed") != "on":
        refusal = Refusal(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "撤回未办理",
            rule_text("withdrawal_not_confirmed"),
            "withdrawal_not_confirmed",
            "撤回后已办的事项将被撤销（退费、退还材料），请先与申请人确认。",
        )
        return await _case_refused(request, user, svc, case_no, form, refusal, "withdraw")

    async def take() -> None:
        step = Withdrawal(reason=str(form.get("withdraw_reason", "")).strip())
        await window_routes.withdraw(case_no, step, user.principal(), svc)

    return await _take(request, user, svc, case_no, form, "withdraw", "withdrawal", take)


@router.post("/cases/{case_no}/delivery", name="window_delivery")
async def delivery(
    request: Request,
    case_no: CaseNoPath,
    user: WindowClerkPage,
    svc: ConsoleServices,
    form: CheckedForm,
) -> Response:
    """The result reached the applicant: at the window, by post (tracking number) or online."""
    tracking = str(form.get("tracking_no", "")).strip() or None

    async def take() -> None:
        step = DeliveryConfirmation(
            channel=str(form.get("channel", "")),  # pydantic checks the literal
            tracking_no=tracking,
        )
        await window_routes.deliver(case_no, step, user.principal(), svc)

    def refine(exc: ValidationError, refusal: Refusal) -> Refusal:
        if not any(e.get("type") == "value_error" for e in exc.errors()):
            return refusal
        return Refusal(
            refusal.status,
            refusal.title,
            "邮寄送达须填写邮件单号。",
            "tracking_number_required",
            refusal.fix,
        )

    return await _take(request, user, svc, case_no, form, "deliver", "delivery", take, refine)


# --- Documents and materials (the API's own routes: access-logged) -----------------------------

Disposition = Literal["attachment", "inline"]


async def _document(
    case_no: str, number: str, user: ConsoleUser, svc: ApiServices, disposition: Disposition
) -> Response:
    caller = user.principal()
    _, content = await open_document(
        svc,
        PostgresStores(svc.pool),
        PostgresAccessLog(svc.pool),
        caller,
        Reader.of(caller, user.token_id),
        case_no,
        number,
        route=DOCUMENT_ROUTE,
    )
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'{disposition}; filename="{number}.pdf"'},
    )


@router.get("/cases/{case_no}/documents/{number}", name="window_document")
async def document(
    case_no: CaseNoPath, number: Number, user: WindowClerkPage, svc: ConsoleServices
) -> Response:
    """The signed PDF, downloaded."""
    return await _document(case_no, number, user, svc, "attachment")


@router.get("/cases/{case_no}/documents/{number}/print", name="window_document_print")
async def document_print(
    case_no: CaseNoPath, number: Number, user: WindowClerkPage, svc: ConsoleServices
) -> Response:
    """The signed PDF, opened in the browser to print."""
    return await _document(case_no, number, user, svc, "inline")


@router.get("/cases/{case_no}/materials/{sha256}", name="window_material")
async def material(
    case_no: CaseNoPath, sha256: Digest, user: WindowClerkPage, svc: ConsoleServices
) -> Response:
    """A material's bytes from the case file (downloaded)."""
    caller = user.principal()
    listed, content = await open_material(
        PostgresStores(svc.pool),
        PostgresAccessLog(svc.pool),
        caller,
        Reader.of(caller, user.token_id),
        case_no,
        sha256,
        route=MATERIAL_ROUTE,
    )
    return Response(
        content,
        media_type=listed.media_type,
        headers={"Content-Disposition": f'attachment; filename="{sha256[:16]}"'},
    )
