"""Every failure under /console as a page in Chinese that names what to do, never a traceback.

The console is its own app (mounted by the API's), so these handlers answer only its requests;
the API keeps its JSON problems. Nothing a person typed is echoed into an error page or a log
line: validation errors name the field and the rule, not the value.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from console.auth import (
    COOKIE,
    PREFIX,
    ROLE_LABELS,
    CsrfRefused,
    RoleRefused,
    SignInRequired,
)
from console.pages import Refusal, refusal_of, render
from regions.access_log import AccessLogUnavailable
from regions.api.cases import CaseNotFound
from regions.api.errors import DATABASE_DOWN, RETRY_AFTER_S
from regions.api.steps import CaseCatchingUp, StepRefused
from regions.submission_keys import SubmissionKeyReused
from regions.window import ApplicationRefused

log = logging.getLogger(__name__)

_TEMPORAL_TRANSIENT = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}
)


class PageError(Exception):
    """Raised by a page to answer with the error page: `raise PageError(Refusal(...))`."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.title)
        self.refusal = refusal


def error_page(
    request: Request, refusal: Refusal, headers: dict[str, str] | None = None
) -> Response:
    response = render(request, "error.html", {"refusal": refusal}, status_code=refusal.status)
    response.headers.update(headers or {})
    return response


def _unavailable(request: Request, what: str) -> Response:
    return error_page(
        request,
        Refusal(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "系统暂时无法办理",
            f"{what}暂时没有应答。",
            "service_unavailable",
            f"请等几秒钟后再试一次（约 {RETRY_AFTER_S} 秒）。如果刚才提交过，请先打开案件"
            "查看这一步是否已经办好，不要重复办理。",
        ),
        {"Retry-After": str(RETRY_AFTER_S)},
    )


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    where = f"{PREFIX}/sign-in" + (f"?reason={exc.reason}" if exc.reason else "")
    response = RedirectResponse(where, status_code=status.HTTP_303_SEE_OTHER)
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path=PREFIX)
    return response


async def _role(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RoleRefused)
    allowed = "、".join(ROLE_LABELS[r] for r in exc.allowed)
    return error_page(
        request,
        Refusal(
            status.HTTP_403_FORBIDDEN,
            "无权打开此页面",
            f"此页面只供{allowed}使用，您的角色是{exc.user.role_label}。",
            "role_not_allowed",
            "请从上方导航进入您的工作页面；如需其他权限，请联系本地区运维人员。",
        ),
    )


async def _csrf(request: Request, exc: Exception) -> Response:
    return error_page(
        request,
        Refusal(
            status.HTTP_403_FORBIDDEN,
            "表单已失效，未办理",
            "提交的表单没有带上本次登录的校验码，或校验码不符，因此什么也没有办理。",
            "csrf_token_invalid",
            "请回到原页面刷新后重新填写提交；如果在别的窗口重新登录过，请使用最新打开的页面。",
        ),
    )


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return error_page(request, exc.refusal)


async def _refused(request: Request, exc: Exception) -> Response:
    return error_page(request, refusal_of(exc))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # The field and the rule, never the value: it may be an ID number or a name.
    fields = [".".join(str(p) for p in e.get("loc", ()) if p != "body") for e in exc.errors()]
    rule = str(exc.errors()[0].get("type")) if exc.errors() else None
    return error_page(
        request,
        Refusal(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "填写的内容不符合要求",
            "以下栏目缺少或格式不对：" + "、".join(f or "表单" for f in fields),
            rule,
            "请返回表单，按栏目说明改正后重新提交。",
        ),
    )


_HTTP_REFUSALS: dict[int, Refusal] = {
    404: Refusal(404, "没有这个页面", "地址不对，或这个页面已经不在了。", "not_found",
                 "请从上方导航重新进入。"),
    405: Refusal(405, "不能这样打开此页面", "这个地址只接受表单提交。", "method_not_allowed",
                 "请从页面上的按钮进入，不要直接输入地址。"),
}  # fmt: skip


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    refusal = _HTTP_REFUSALS.get(exc.status_code) or Refusal(
        exc.status_code, "请求未被办理", "系统没有办理这个请求。", None, "请返回上一页重试。"
    )
    return error_page(request, refusal)


async def _temporal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RPCError)
    if exc.status in _TEMPORAL_TRANSIENT:
        return _unavailable(request, "流程服务")
    return unexpected_page(request, exc)


async def _catching_up(request: Request, exc: Exception) -> Response:
    return error_page(
        request,
        Refusal(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "这一步还没有办理",
            "系统重启后，这个案件还在接收重启前到达的消息。",
            "case_catching_up",
            f"请等几秒钟（约 {RETRY_AFTER_S} 秒）后再提交一次；这一步没有办理，不会重复。",
        ),
        {"Retry-After": str(RETRY_AFTER_S)},
    )


async def _temporal_timeout(request: Request, exc: Exception) -> Response:
    return _unavailable(request, "流程服务")


async def _database(request: Request, exc: Exception) -> Response:
    return _unavailable(request, "本地区数据库")


async def _access_log(request: Request, exc: Exception) -> Response:
    return _unavailable(request, "查阅记录（访问日志）")


def unexpected_page(request: Request, exc: BaseException) -> Response:
    """The 500 page: a reference number the person can quote to operators, who find it in the
    node's log with the exception's type and where it was raised (not its message, which may
    quote personal data)."""
    reference = secrets.token_hex(4)
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"
    log.error(
        "console page failed: %s at %s (reference %s, %s %s)",
        type(exc).__name__,
        where,
        reference,
        request.method,
        request.url.path,
    )
    return error_page(
        request,
        Refusal(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            "系统出错，未能办理",
            f"处理这个请求时系统出了错。参考编号：{reference}。",
            "internal_error",
            "请稍后再试一次；如果仍然出错，请把参考编号告诉本地区运维人员。",
        ),
    )


def install(app: FastAPI) -> None:
    handlers: dict[Any, Any] = {
        SignInRequired: _sign_in,
        RoleRefused: _role,
        CsrfRefused: _csrf,
        PageError: _page_error,
        StepRefused: _refused,
        CaseCatchingUp: _catching_up,
        ApplicationRefused: _refused,
        SubmissionKeyReused: _refused,
        CaseNotFound: _refused,
        RequestValidationError: _validation,
        StarletteHTTPException: _http,
        RPCError: _temporal,
        RPCTimeoutOrCancelledError: _temporal_timeout,
        AccessLogUnavailable: _access_log,
        **dict.fromkeys(DATABASE_DOWN, _database),
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)
