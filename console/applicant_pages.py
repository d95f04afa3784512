"""网上办事: the applicant's pages (全程网办, decision 0034) over the same services as the
/applicant API (regions/api/applicant_cases.py): sign in with the region's identity provider,
apply with files, my cases, a case with its state, documents, 补正 and withdrawal."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Query, Request, Response, status
from pydantic import ValidationError
from starlette.responses import RedirectResponse

from catalog.errors import CatalogError
from catalog.models import CrossRegionMode, DeliveryChannel
from console.applicant_session import (
    CALLBACK,
    COOKIE,
    CSRF_FIELD,
    HOME,
    SIGN_IN_COOKIE,
    ApplicantCsrfRefused,
    ApplicantSession,
    ApplicantSignInRequired,
    SignedInApplicant,
    check_csrf,
    nonce_for,
    secure,
    sign_in_start,
)
from console.errors import PageError, error_page
from console.pages import Refusal, csrf_input, refusal_of, render
from console.window_pages import peer_regions, region_label
from regions.api.applicant_cases import (
    OnlineApplication,
    applicant_actor,
    applicant_reader,
    apply_online,
    case_of,
    my_cases,
    own_case,
)
from regions.api.document_routes import documents_of, open_listed
from regions.api.file_routes import access_log, case_stores
from regions.api.services import ApiServices
from regions.api.steps import StepRefused, take_step
from regions.api.uploads import NAMES_FIELD, UploadForm, material_files, read_form
from regions.api.window_routes import supplement_step
from regions.codes import UnknownRegion
from regions.identity import IdentityRefused, IdentityUnavailable
from regions.labels import outcome_label, status_label
from regions.material_files import FileRefused, take_files
from regions.naming import intake_workflow_id
from regions.window import ApplicationRefused
from workflows.models import SupplementMaterials, Withdrawal

router = APIRouter(prefix="/applicant")

APPLY_FIELDS = frozenset(
    {
        CSRF_FIELD,
        "submission_key",
        "item_code",
        "processing_region",
        "phone",
        "address",
        "delivery",
        "consent_to_data_sharing",
        NAMES_FIELD,
    }
)
SUPPLEMENT_FIELDS = frozenset({CSRF_FIELD, NAMES_FIELD})
_SUBMISSION_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
DELIVERY_LABELS = {"online": DeliveryChannel.ONLINE.value, "mail": DeliveryChannel.MAIL.value}


def _services(request: Request) -> ApiServices:
    svc: ApiServices = request.app.state.services
    return svc


def _page(
    request: Request,
    template: str,
    session: ApplicantSession | None,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    full: dict[str, Any] = {
        "applicant": session,
        "applicant_csrf": csrf_input(session.csrf) if session else "",
        "home": HOME,
        **(context or {}),
    }
    return render(request, template, full, status_code=status_code)


# --- signing in ------------------------------------------------------------------------------


@router.get("/sign-in", name="applicant_sign_in")
async def sign_in(request: Request, reason: str | None = None) -> Response:
    """The sign-in page: a button to the region's identity provider (统一身份认证)."""
    svc = _services(request)
    provider = svc.identity.provider if svc.identity else None
    if provider is None or provider.authorize_url is None:
        raise PageError(
            Refusal(
                status.HTTP_404_NOT_FOUND,
                "本地区未开通网上办事",
                "本地区节点没有配置统一身份认证。",
                "online_channel_not_configured",
                "请到政务服务窗口办理。",
            )
        )
    callback = str(request.url.replace(path=CALLBACK, query=""))
    start = sign_in_start(provider.authorize_url, provider.audience, callback)
    response = _page(
        request,
        "applicant/sign_in.html",
        None,
        {"title": "网上办事登录", "authorize": start.url, "reason": reason},
    )
    # Lax on http (tests, one site); None over https, where the provider's form_post is a
    # cross-site POST that must carry it back.
    response.set_cookie(
        SIGN_IN_COOKIE,
        start.cookie,
        max_age=600,
        path=CALLBACK,
        httponly=True,
        samesite="none" if secure(request) else "lax",
        secure=secure(request),
    )
    return response


@router.post("/callback", name="applicant_callback")
async def callback(
    request: Request,
    id_token: Annotated[str, Form(max_length=8192)],
    state: Annotated[str, Form(max_length=200)],
) -> Response:
    """The provider posts the ID token here (response_mode=form_post)."""
    svc = _services(request)
    nonce = nonce_for(request.cookies.get(SIGN_IN_COOKIE), state)
    if nonce is None or svc.identity is None:
        return _sign_in_refused(request, "state_mismatch", "登录请求已失效或不是本页面发起的。")
    try:
        await svc.identity.verify(id_token, nonce)
    except IdentityRefused as exc:
        return _sign_in_refused(request, exc.reason, "统一身份认证的登录凭证未通过核验。")
    except IdentityUnavailable:
        return _sign_in_refused(request, "identity_unavailable", "统一身份认证暂时无法核验。")
    response = RedirectResponse(HOME, status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SIGN_IN_COOKIE, path=CALLBACK)
    response.set_cookie(
        COOKIE,
        id_token,
        path=HOME.rstrip("/"),
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )
    return response


def _sign_in_refused(request: Request, rule: str, why: str) -> Response:
    refusal = Refusal(status.HTTP_401_UNAUTHORIZED, "登录未成功", why, rule, "请重新登录。")
    return error_page(request, refusal)


@router.post("/sign-out")
async def sign_out(request: Request, session: SignedInApplicant) -> Response:
    form = await request.form()
    check_csrf(session, form.get(CSRF_FIELD))
    response = RedirectResponse(
        f"{HOME}sign-in?reason=signed-out", status_code=status.HTTP_303_SEE_OTHER
    )
    response.delete_cookie(COOKIE, path=HOME.rstrip("/"))
    return response


# --- my cases ----------------------------------------------------------------------------------


@router.get("/", name="applicant_home")
async def home(request: Request, session: SignedInApplicant) -> Response:
    svc = _services(request)
    cases = await my_cases(svc, session.applicant)
    return _page(request, "applicant/cases.html", session, {"title": "我的办件", "cases": cases})


def online_items(svc: ApiServices, processing: str) -> list[Any]:
    """The items this region may take online for `processing` (the catalog's 全程网办)."""
    found = []
    for listed in svc.catalog.items():
        try:
            found.append(
                svc.catalog.shared_item(listed.code, svc.region, processing, CrossRegionMode.ONLINE)
            )
        except (CatalogError, UnknownRegion):
            continue
    return found


@router.get("/apply", name="applicant_apply")
async def apply_page(
    request: Request,
    session: SignedInApplicant,
    processing_region: Annotated[str | None, Query(max_length=6)] = None,
    item_code: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Choose where and what (the items that allow 全程网办), then the form with the files."""
    svc = _services(request)
    regions = peer_regions(svc)
    processing = processing_region if processing_region in regions else None
    items = online_items(svc, processing) if processing else []
    item = next((i for i in items if i.code == item_code), None)
    return _page(request, "applicant/apply.html", session, _apply_context(svc, processing, item))


def _apply_context(svc: ApiServices, processing: str | None, item: Any) -> dict[str, Any]:
    regions = peer_regions(svc)
    return {
        "title": "网上申请",
        "regions": [(code, region_label(regions, code)) for code in regions],
        "processing_region": processing,
        "processing_label": region_label(regions, processing) if processing else "",
        "items": online_items(svc, processing) if processing else [],
        "item": item,
        "deliveries": [
            (code, label)
            for code, label in DELIVERY_LABELS.items()
            if item is not None and DeliveryChannel(label) in item.delivery
        ],
        "submission_key": secrets.token_urlsafe(18),
    }


def _first(form: UploadForm, name: str) -> str:
    values = form.text.get(name, [])
    return values[0] if values else ""


@router.post("/apply", name="applicant_submit")
async def submit(request: Request, session: SignedInApplicant) -> Response:
    svc = _services(request)
    form = UploadForm(text_names=APPLY_FIELDS)
    try:
        await read_form(request, form)
    except ApplicationRefused as exc:
        check_csrf(session, _first(form, CSRF_FIELD))
        return _apply_refused(request, session, form, exc)
    check_csrf(session, _first(form, CSRF_FIELD))
    key = _first(form, "submission_key")
    try:
        if not _SUBMISSION_KEY.match(key):
            raise ApplicationRefused("submission_key_invalid", "表单已失效，请重新打开申请页面。")
        files = material_files(form, None, skip_unchosen=True)
        application = OnlineApplication(
            item_code=_first(form, "item_code"),
            processing_region=_first(form, "processing_region"),
            phone=_first(form, "phone").strip() or None,
            address=_first(form, "address").strip(),
            delivery="mail" if _first(form, "delivery") == "mail" else "online",
            consent_to_data_sharing=_first(form, "consent_to_data_sharing") == "on",
        )
        submitted = await apply_online(svc, session.applicant, application, files, key)
    except ApplicationRefused as exc:
        return _apply_refused(request, session, form, exc)
    except ValidationError as exc:
        fields = "、".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
        refused = ApplicationRefused(
            str(exc.errors()[0]["type"]), f"填写的内容不符合要求：{fields}"
        )
        return _apply_refused(request, session, form, refused)
    return RedirectResponse(
        f"{HOME}cases/{submitted.case_no}?done=submitted", status_code=status.HTTP_303_SEE_OTHER
    )


def _apply_refused(
    request: Request, session: ApplicantSession, form: UploadForm, exc: ApplicationRefused
) -> Response:
    svc = _services(request)
    processing = _first(form, "processing_region") or None
    items = online_items(svc, processing) if processing in peer_regions(svc) else []
    item = next((i for i in items if i.code == _first(form, "item_code")), None)
    context = _apply_context(svc, processing if item else None, item)
    refusal = refusal_of(exc)
    kept = {k: v[0] for k, v in form.text.items() if k != CSRF_FIELD and v}
    return _page(
        request,
        "applicant/apply.html",
        session,
        {**context, "error": refusal, "kept": kept},
        status_code=refusal.status,
    )


# --- a case ----------------------------------------------------------------------------------

_DONE = {
    "submitted": "申请已提交，正在转办理地审查。",
    "supplement": "补正材料已提交。",
    "withdrawn": "撤回申请已提交。",
}


@router.get("/cases/{case_no}", name="applicant_case")
async def case_page(
    request: Request, case_no: str, session: SignedInApplicant, done: str | None = None
) -> Response:
    return await _case(request, session, case_no, notice=_DONE.get(done or ""))


async def _case(
    request: Request,
    session: ApplicantSession,
    case_no: str,
    *,
    notice: str | None = None,
    error: Exception | None = None,
) -> Response:
    svc = _services(request)
    view = await case_of(svc, session.applicant, case_no)
    refusal = refusal_of(error) if error else None
    return _page(
        request,
        "applicant/case.html",
        session,
        {
            "title": f"办件 {case_no}",
            "case_no": case_no,
            "view": view,
            "status_label": status_label(view.summary.status, "origin"),
            "outcome_label": outcome_label(view.outcome),
            "processing_label": region_label(peer_regions(svc), view.summary.processing_region),
            "done": notice,
            "error": refusal,
        },
        status_code=refusal.status if refusal else status.HTTP_200_OK,
    )


@router.get("/cases/{case_no}/documents/{number}", name="applicant_document")
async def document(
    request: Request, case_no: str, number: str, session: SignedInApplicant
) -> Response:
    svc = _services(request)
    await own_case(svc, session.applicant, case_no)
    listed = await documents_of(svc, case_no)
    who = applicant_reader(session.applicant, svc.region, session.token)
    route = "GET /console/applicant/cases/{case_no}/documents/{number}"
    stores, log = case_stores(svc), access_log(svc)
    _, content = await open_listed(stores, log, who, case_no, listed, number, route)
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{number}.pdf"',
        },
    )


@router.post("/cases/{case_no}/supplement", name="applicant_supplement")
async def supplement(request: Request, case_no: str, session: SignedInApplicant) -> Response:
    svc = _services(request)
    form = UploadForm(text_names=SUPPLEMENT_FIELDS)
    try:
        await read_form(request, form)
        check_csrf(session, _first(form, CSRF_FIELD))
        await own_case(svc, session.applicant, case_no)
        files = material_files(form, None, skip_unchosen=True)
        if not files:
            raise ApplicationRefused("supplement_without_material", "请至少选择一份补正材料。")
        try:
            described = take_files(files)
        except FileRefused as exc:
            raise ApplicationRefused(exc.rule, exc.message) from exc
        materials = SupplementMaterials(materials=tuple(ref for ref, _ in described))
        actor = applicant_actor(session.applicant, svc.region)
        await supplement_step(svc, case_no, materials, described, actor)
    except (ApplicationRefused, StepRefused) as exc:
        check_csrf(session, _first(form, CSRF_FIELD))
        return await _case(request, session, case_no, error=exc)
    return RedirectResponse(
        f"{HOME}cases/{case_no}?done=supplement", status_code=status.HTTP_303_SEE_OTHER
    )


@router.post("/cases/{case_no}/withdrawal", name="applicant_withdrawal")
async def withdrawal(
    request: Request,
    case_no: str,
    session: SignedInApplicant,
    csrf: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_csrf(session, csrf)
    svc = _services(request)
    await own_case(svc, session.applicant, case_no)
    try:
        step = Withdrawal(reason=reason.strip() or "申请人撤回")
        actor = applicant_actor(session.applicant, svc.region)
        await take_step(svc.client, intake_workflow_id(case_no), "withdraw", step, actor)
    except StepRefused as exc:
        return await _case(request, session, case_no, error=exc)
    return RedirectResponse(
        f"{HOME}cases/{case_no}?done=withdrawn", status_code=status.HTTP_303_SEE_OTHER
    )


# --- errors -----------------------------------------------------------------------------------


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApplicantSignInRequired)
    where = f"{HOME}sign-in" + (f"?reason={exc.reason}" if exc.reason else "")
    response = RedirectResponse(where, status_code=status.HTTP_303_SEE_OTHER)
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path=HOME.rstrip("/"))
    return response


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return error_page(
        request,
        Refusal(
            status.HTTP_403_FORBIDDEN,
            "表单已失效，未办理",
            "提交的表单没有带上本次登录的校验码，或校验码不符，因此什么也没有办理。",
            "csrf_token_invalid",
            "请回到原页面刷新后重新填写提交。",
        ),
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApplicantSignInRequired, _sign_in_required)
    app.add_exception_handler(ApplicantCsrfRefused, _csrf_refused)
