"""The 运维 section of the console (operators): the exchange health panel, case search, one
case's cross-region swimlane, overdue and stuck cases, quarantine (inbound and parked outbound)
and effects that failed (dead letters), with retry and resolve.

Every page reads through the functions the operators' commands use (operators/listing.py,
stitch.py, html.py, attention.py, health.py, quarantine.py, parked.py, effects/orders.py,
regions/effect_actions.py): no second copy of a query or a rule. The node reads its own region
with its own Temporal client and pool. The other region's records (the swimlane's other lane,
a search of both regions) it reads only where `ConsoleConfig.peers` names that region's
endpoints: on the local stack every region's namespace and database are on one server; in
production regions share no database, so the page shows this region's lane and says so (an
operator with both regions' endpoints uses `tongban case show --endpoints`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast
from urllib.parse import urlencode

import asyncpg
from fastapi import APIRouter, Query, Request, status
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response
from temporalio.service import RPCError

from console.auth import PREFIX, CheckedForm, ConsoleServices, OperatorPage, console_state
from console.errors import PageError
from console.pages import KeptInput, Refusal, render, render_form
from deploy.stack.settings import StackNotAvailableError, StackSettings, load_endpoints, region_dsn
from effects import orders
from effects.orders import OrderRefused
from events.models import accepting_region_of
from events.pg import DATABASE_UNAVAILABLE
from events.relay import PARK_TOO_LARGE
from events.stores.postgres import PostgresCaseStore
from events.trust import DirectoryError, TrustDirectory
from operators.attention import overdue_cases, stuck_cases
from operators.effects_cli import effect_row
from operators.endpoints import OperatorEndpoints, local_endpoints
from operators.exchange_labels import event_label, reject_reason_label
from operators.health import QUARANTINE_WINDOW, exchange_health, window_zh
from operators.html import entry_label, swimlane_svg
from operators.listing import CaseFilter, CaseRow, list_cases, region_cases
from operators.load import connect
from operators.model import CaseTimeline, RegionRecords
from operators.parked import parked_records
from operators.quarantine import quarantined_records, refused_by_sender
from operators.render import region_name, status_line
from operators.sources import processing_region_of, region_records
from operators.stitch import stitch
from regions.api.cases import CaseNotFound
from regions.api.services import ApiServices
from regions.beijing_time import ZONE_LABEL, parse_person_time
from regions.effect_actions import CaseUnreachable, EffectNotFound
from regions.effect_actions import resolve as resolve_effect
from regions.effect_actions import retry as retry_effect
from regions.labels import SIDE_LABELS, UnknownStatus, choices, resolve_status, shown
from regions.naming import intake_workflow_id, processing_workflow_id
from regions.node_settings import NodeSettings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/operators")

HERE = f"{PREFIX}/operators"
PAGE_SIZE = 50
# A peer that does not answer within this is shown as unreachable, not waited for.
PEER_TIMEOUT_S = 8.0
# What reading another region can fail with: it is then shown as unreachable, with why.
UNREACHABLE: tuple[type[BaseException], ...] = (
    TimeoutError,
    RPCError,
    RuntimeError,
    *DATABASE_UNAVAILABLE,
)


@dataclass(frozen=True)
class OperatorLink:
    key: str
    label: str
    href: str


LINKS: tuple[OperatorLink, ...] = (
    OperatorLink("health", "交换健康", f"{HERE}/"),
    OperatorLink("cases", "案件查询", f"{HERE}/cases"),
    OperatorLink("attention", "超期与滞留", f"{HERE}/attention"),
    OperatorLink("quarantine", "隔离区", f"{HERE}/quarantine"),
    OperatorLink("effects", "执行失败事项", f"{HERE}/effects"),
    OperatorLink("ratings", "好差评", f"{HERE}/ratings"),  # console/rating_pages.py
)


def peer_endpoints(settings: NodeSettings) -> OperatorEndpoints | None:
    """Where a node's operator pages read other regions: on the local stack (the node's own
    Temporal and database are the stack's), every region of the stack; anywhere else none.
    Called once by the composition root (regions/api/server.py)."""
    try:
        stack = StackSettings()
        found = load_endpoints(stack)
    except (StackNotAvailableError, ValueError, OSError):
        # No local stack (or a broken description of one): this region's records only.
        return None
    own_dsn = settings.postgres_dsn.get_secret_value()
    on_stack = settings.temporal_address == found.temporal_address and own_dsn == region_dsn(
        found.postgres_dsn, settings.region
    )
    return local_endpoints(stack) if on_stack else None


def _peers(request: Request) -> OperatorEndpoints | None:
    return console_state(request).config.peers


def _page(request: Request, template: str, current: str, context: dict[str, Any]) -> Response:
    return render(request, template, {"links": LINKS, "current": current, **context})


def _directory(svc: ApiServices) -> TrustDirectory:
    try:
        return svc.credentials.directory()
    except DirectoryError as exc:
        raise PageError(
            Refusal(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "信任目录无法读取",
                "本节点没有可用的信任目录，交换健康状况和签名核验都无法进行。",
                "directory_unavailable",
                "请按运维手册检查信任目录文件（tongban keys）后再打开此页。",
            )
        ) from exc


# ---------------------------------------------------------------------------------------------
# 交换健康


@router.get("/", name="operators_index")
async def index(request: Request, user: OperatorPage, svc: ConsoleServices) -> Response:
    now = console_state(request).now()
    directory = _directory(svc)
    async with svc.pool.acquire() as conn:
        health = await exchange_health(conn, svc.region, directory, now)
    return _page(request, "operators/health.html", "health", {"health": health})


# ---------------------------------------------------------------------------------------------
# 案件查询


@dataclass(frozen=True)
class SearchScope:
    value: Literal["here", "all"]
    label: str


SCOPES = (SearchScope("here", "本地区"), SearchScope("all", "本地区及可读取的其他地区"))


@dataclass
class Found:
    rows: list[CaseRow] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)  # region → why, in Chinese


def _search_filter(form: dict[str, str]) -> CaseFilter:
    """The filters as `tongban case list` reads them; raises UnknownStatus or ValueError."""
    wanted = resolve_status(form["status"]) if form["status"] else None
    since, until = (parse_person_time(form[k]) if form[k] else None for k in ("since", "until"))
    case_filter = CaseFilter(
        status=wanted.code if wanted else None,
        origin=form["origin"] or None,
        processing=form["processing"] or None,
        item=form["item"] or None,
        since=since,
        until=until,
        overdue=form["overdue"] == "on",
        sides=wanted.sides if wanted else (),
    )
    case_filter.query()  # a bad code is refused before anything is asked
    return case_filter


async def _search(
    svc: ApiServices,
    peers: OperatorEndpoints | None,
    case_filter: CaseFilter,
    scope: str,
    page: int,
) -> Found:
    found = Found()
    wanted = page * PAGE_SIZE
    async with svc.pool.acquire() as conn:
        found.rows += await region_cases(svc.client, conn, svc.region, case_filter, wanted)
    if scope == "all":
        others = [code for code in (peers.regions if peers else {}) if code != svc.region]
        if not others:
            found.unreachable["*"] = "本节点没有配置其他地区的读取地址，只查询了本地区。"
        for code in others:
            assert peers is not None
            try:
                async with asyncio.timeout(PEER_TIMEOUT_S):
                    found.rows += await list_cases(
                        [peers.for_region(code)], case_filter, page=1, page_size=wanted
                    )
            except UNREACHABLE as exc:
                log.warning("case search: region %s not readable (%s)", code, type(exc).__name__)
                found.unreachable[code] = "暂时无法读取（流程服务或数据库未应答）"
    # As `tongban case list` orders its rows: newest first, then the page.
    found.rows.sort(key=lambda r: r.started_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    found.rows = found.rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return found


SEARCH_FIELDS = ("status", "origin", "processing", "item", "since", "until", "overdue", "scope")


@router.get("/cases", name="operators_cases")
async def cases(
    request: Request,
    user: OperatorPage,
    svc: ConsoleServices,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> Response:
    # Codes, statuses and times only: nothing in these filters is personal data.
    form = {k: request.query_params.get(k, "").strip()[:64] for k in SEARCH_FIELDS}
    form["scope"] = form["scope"] if form["scope"] in ("here", "all") else "here"
    context: dict[str, Any] = {
        "scopes": SCOPES,
        "status_choices": choices(),
        "zone": ZONE_LABEL,
        "side_labels": SIDE_LABELS,
        "shown": shown,
        "page_no": page,
        "page_size": PAGE_SIZE,
        "query_string": urlencode({k: v for k, v in form.items() if v}),
        "found": None,
    }
    try:
        case_filter = _search_filter(form)
    except UnknownStatus as exc:
        refusal = Refusal(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "没有这个案件状态",
            f"「{exc.given}」不是案件的状态。",
            "unknown_status",
            "请填写状态代码或中文名称，例如 processing 或 办理中（可选的状态见输入框的下拉提示）。",
        )
        return _form_page(request, context, form, refusal)
    except ValueError as exc:
        refusal = Refusal(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "查询条件不对",
            str(exc),
            "bad_filter",
            "地区填 6 位代码（如 440000），事项填事项编码，时间填北京时间，"
            "如 2026-12-01 或 2026-12-01T08:00。",
        )
        return _form_page(request, context, form, refusal)
    context["found"] = await _search(svc, _peers(request), case_filter, form["scope"], page)
    return _page(request, "operators/cases.html", "cases", {**context, "form": KeptInput(form)})


def _form_page(
    request: Request, context: dict[str, Any], form: dict[str, str], refusal: Refusal
) -> Response:
    return render_form(
        request,
        "operators/cases.html",
        {**context, "links": LINKS, "current": "cases"},
        form=form,
        error=refusal,
    )


# ---------------------------------------------------------------------------------------------
# 一个案件的跨地区泳道图


@dataclass(frozen=True)
class CaseLanes:
    timeline: CaseTimeline
    # lane ("A"/"B") → why this node could not read that region's records, in Chinese
    unreadable: dict[str, str]


async def _peer_records(
    peers: OperatorEndpoints | None,
    region: str,
    role: Literal["origin", "processing"],
    case_no: str,
    directory: TrustDirectory,
) -> RegionRecords | str:
    """The other region's records, as `tongban case show` reads them; else why not."""
    if peers is None or region not in peers.regions:
        return "本节点不能读取该地区的流程与数据库（各地区不共享数据库）"
    try:
        async with asyncio.timeout(PEER_TIMEOUT_S), connect(peers.for_region(region)) as other:
            return await region_records(
                client=other.client,
                conn=other.conn,
                region=region,
                role=role,
                case_no=case_no,
                directory=directory,
            )
    except UNREACHABLE as exc:
        log.warning("swimlane: region %s not readable (%s)", region, type(exc).__name__)
        return "该地区的流程服务或数据库暂时没有应答"


def _unread(region: str, role: Literal["origin", "processing"], case_no: str) -> RegionRecords:
    """An empty lane for a region whose records could not be read."""
    workflow_id = (intake_workflow_id if role == "origin" else processing_workflow_id)(case_no)
    return RegionRecords(region=region, role=role, workflow_id=workflow_id)


async def case_lanes(svc: ApiServices, peers: OperatorEndpoints | None, case_no: str) -> CaseLanes:
    """Both lanes of a case this region holds: its own records always, the other region's
    where the node can read them. Raises CaseNotFound when this region does not hold it."""
    try:
        origin = accepting_region_of(case_no)
    except ValueError:
        raise CaseNotFound(case_no) from None
    directory = _directory(svc)
    here = svc.region
    async with svc.pool.acquire() as pooled:
        # The timeline's readers take a connection; a pooled one is one.
        conn = cast(asyncpg.Connection, pooled)
        if here == origin:
            processing = await processing_region_of(conn, svc.client, case_no)
            if processing is None:
                raise CaseNotFound(case_no)
        else:
            case = await PostgresCaseStore(conn).get(case_no)
            if case is None or case.processing_region != here:
                raise CaseNotFound(case_no)
            processing = here
        role: Literal["origin", "processing"] = "origin" if here == origin else "processing"
        own = await region_records(
            client=svc.client,
            conn=conn,
            region=here,
            role=role,
            case_no=case_no,
            directory=directory,
        )
    other_role: Literal["origin", "processing"] = "processing" if role == "origin" else "origin"
    other_region = processing if role == "origin" else origin
    other = await _peer_records(peers, other_region, other_role, case_no, directory)
    unreadable: dict[str, str] = {}
    if isinstance(other, str):
        unreadable["B" if other_role == "processing" else "A"] = other
        other = _unread(other_region, other_role, case_no)
    a, b = (own, other) if role == "origin" else (other, own)
    return CaseLanes(stitch(case_no, a, b), unreadable)


@router.get("/cases/{case_no}", name="operators_case")
async def case(
    request: Request, case_no: str, user: OperatorPage, svc: ConsoleServices
) -> Response:
    lanes = await case_lanes(svc, _peers(request), case_no)
    timeline = lanes.timeline
    lane_regions = {"A": timeline.origin_region, "B": timeline.processing_region}
    return _page(
        request,
        "operators/case.html",
        "cases",
        {
            "title": f"案件 {case_no}",
            "timeline": timeline,
            "unreadable": lanes.unreadable,
            "lane_regions": lane_regions,
            "lane_names": {lane: region_name(code) for lane, code in lane_regions.items()},
            "status_line": status_line(timeline),
            # html.py escapes everything it puts in the SVG; it carries no style or script.
            "svg": Markup(swimlane_svg(timeline)),
            "entry_label": entry_label,
            "zone": ZONE_LABEL,
        },
    )


# ---------------------------------------------------------------------------------------------
# 超期与滞留


@router.get("/attention", name="operators_attention")
async def attention(request: Request, user: OperatorPage, svc: ConsoleServices) -> Response:
    now = console_state(request).now()
    async with svc.pool.acquire() as conn:
        overdue = await overdue_cases(svc.client, conn, svc.region, now)
        stuck = await stuck_cases(conn, svc.region, now)
    return _page(
        request,
        "operators/attention.html",
        "attention",
        {"overdue": overdue, "stuck": stuck, "side_labels": SIDE_LABELS, "zone": ZONE_LABEL},
    )


# ---------------------------------------------------------------------------------------------
# 隔离区（收到的被拒记录）与搁置的发件


PARK_REASON_LABELS = {PARK_TOO_LARGE: "过大，无法发送"}


@router.get("/quarantine", name="operators_quarantine")
async def quarantine(request: Request, user: OperatorPage, svc: ConsoleServices) -> Response:
    now = console_state(request).now()
    async with svc.pool.acquire() as conn:
        inbound = await quarantined_records(conn)
        by_sender = await refused_by_sender(conn, now - QUARANTINE_WINDOW)
        parked = await parked_records(conn)
    return _page(
        request,
        "operators/quarantine.html",
        "quarantine",
        {
            "inbound": inbound,
            "by_sender": by_sender,
            "parked": parked,
            "window": window_zh(QUARANTINE_WINDOW),
            "reason_label": reject_reason_label,
            "event_label": event_label,
            "park_label": lambda reason: PARK_REASON_LABELS.get(reason, reason),
            "zone": ZONE_LABEL,
        },
    )


# ---------------------------------------------------------------------------------------------
# 执行失败事项（死信）：重试、人工办结

_NOTICES = {
    "retried": "已重新执行第 {id} 号事项，案件流程已收到通知。",
    "resolved": "已将第 {id} 号事项记为人工办结，案件流程已收到通知。",
}


async def _effects_page(
    request: Request,
    svc: ApiServices,
    *,
    form: FormData | None = None,
    error: Refusal | None = None,
    notice: str | None = None,
) -> Response:
    now = console_state(request).now()
    async with svc.pool.acquire() as conn:
        failed = await orders.listing(conn, failed=True)
    context: dict[str, Any] = {
        "links": LINKS,
        "current": "effects",
        "effects": [effect_row(svc.region, order, now) for order in failed],
        "notice": notice,
        "acted_on": form.get("effect_id") if form is not None else None,
    }
    if error is not None:
        return render_form(request, "operators/effects.html", context, form=form, error=error)
    return render(request, "operators/effects.html", context)


@router.get("/effects", name="operators_effects")
async def effects(
    request: Request,
    user: OperatorPage,
    svc: ConsoleServices,
    done: Annotated[str, Query(max_length=16)] = "",
    effect: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    template = _NOTICES.get(done)
    notice = template.format(id=effect) if template and effect else None
    return await _effects_page(request, svc, notice=notice)


def _by(user: OperatorPage) -> str:
    """The 工号 kept with the action: the person's own, never the window's."""
    if not user.person_id:
        raise PageError(
            Refusal(
                status.HTTP_403_FORBIDDEN,
                "未能办理",
                "您的登录令牌没有登记本人工号，而重试和人工办结都要记下经办人。",
                "operator_person_required",
                "请向运维负责人申领登记本人工号的令牌（tongban tokens issue --person）后重新登录。",
            )
        )
    return user.person_id


def _action_refusal(exc: Exception, effect_id: int) -> Refusal:
    if isinstance(exc, EffectNotFound):
        return Refusal(
            status.HTTP_404_NOT_FOUND,
            "没有这个执行事项",
            f"本地区没有第 {effect_id} 号执行事项。",
            "unknown_effect",
            "请刷新列表后再操作。",
        )
    if isinstance(exc, OrderRefused):
        return Refusal(
            status.HTTP_409_CONFLICT,
            "这一步未被接受",
            f"第 {effect_id} 号事项现在的状态不能这样办理（可能已由别人办过）。",
            "effect_state",
            "请刷新列表，按事项现在的状态再操作。",
        )
    return Refusal(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "已记录，但案件流程未收到通知",
        f"第 {effect_id} 号事项的新状态已经记下，但流程服务暂时没有应答，案件还不知道。",
        "case_unreachable",
        "请稍后打开该案件的泳道图查看；不要重复办理同一事项。",
    )


async def _act(
    request: Request,
    svc: ApiServices,
    form: FormData,
    effect_id: int,
    done: str,
    action: Callable[[], Awaitable[object]],
) -> Response:
    try:
        await action()
    except (EffectNotFound, OrderRefused, CaseUnreachable) as exc:
        return await _effects_page(request, svc, form=form, error=_action_refusal(exc, effect_id))
    return RedirectResponse(
        f"{HERE}/effects?done={done}&effect={effect_id}", status_code=status.HTTP_303_SEE_OTHER
    )


@router.post("/effects/{effect_id}/retry", name="operators_effect_retry")
async def retry(
    request: Request, effect_id: int, user: OperatorPage, svc: ConsoleServices, form: CheckedForm
) -> Response:
    by = _by(user)
    return await _act(
        request,
        svc,
        form,
        effect_id,
        "retried",
        lambda: retry_effect(svc.pool, svc.client, svc.region, effect_id, by),
    )


RESOLVE_NOTE_MAX = 500


@router.post("/effects/{effect_id}/resolve", name="operators_effect_resolve")
async def resolve(
    request: Request, effect_id: int, user: OperatorPage, svc: ConsoleServices, form: CheckedForm
) -> Response:
    by = _by(user)
    note = str(form.get("note") or "").strip()
    if not note or len(note) > RESOLVE_NOTE_MAX:
        refusal = Refusal(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "请写明办理方式",
            "人工办结要写明该事项是怎样以其他方式办完的"
            f"（不超过 {RESOLVE_NOTE_MAX} 字），例如「已在窗口现金退费，收据号 …」。",
            "resolve_note_required",
            "请在该事项的「办理说明」里填写后再提交。",
        )
        return await _effects_page(request, svc, form=form, error=refusal)
    return await _act(
        request,
        svc,
        form,
        effect_id,
        "resolved",
        lambda: resolve_effect(svc.pool, svc.client, svc.region, effect_id, note, by),
    )
