"""Signing in with one's own token, and out.

A person signs in with the token issued to them (`tongban tokens issue --person …`): a real
deployment puts the province's single sign-on (统一身份认证) in front of this form and maps its
answer to the same session; the session, the CSRF rules and the role checks stay as they are.

The sign-in form is protected before there is a session by a double-submit token: a random value
in an HttpOnly, SameSite=Strict cookie scoped to this form, and the same value in the form's
hidden field. A page of another site can neither read the cookie nor make the browser send it.
"""

from __future__ import annotations

import secrets
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from starlette.responses import RedirectResponse, Response

from console.auth import (
    COOKIE,
    CSRF_FIELD,
    PREFIX,
    CsrfRefused,
    SignedIn,
    SignInRequired,
    checked_form,
    console_state,
    console_user,
    home_of,
    same_secret,
)
from console.config import ConsoleState
from console.pages import Refusal, csrf_input, render
from console.sessions import StoredSession, new_csrf_secret, new_session_id, session_hash
from regions.codes import UnknownRegion, region
from regions.tokens import TokenRejected, TokenStore, token_id

router = APIRouter()

SIGN_IN_COOKIE = "tongban_console_signin"
_SIGN_IN_PATH = f"{PREFIX}/sign-in"
_REASONS = {
    "expired": "登录已超时或已结束，请重新登录。",
    "revoked": "您的令牌已被撤销或已过期，登录已结束。如需继续办理，请向运维人员申领新令牌。",
    "signed-out": "您已退出登录。",
}


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _region_label(code: str) -> str:
    try:
        return f"{region(code).name}（{code}）"
    except UnknownRegion:
        return code


def _sign_in_page(
    request: Request, pre_session: str, *, error: Refusal | None = None, notice: str | None = None
) -> Response:
    response = render(
        request,
        "sign_in.html",
        {"sign_in_csrf": csrf_input(pre_session), "error": error, "notice": notice},
        status_code=error.status if error else status.HTTP_200_OK,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        pre_session,
        max_age=3600,
        path=_SIGN_IN_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


async def _signed_in(request: Request) -> bool:
    try:
        await console_user(request)
    except SignInRequired:
        return False
    return True


@router.get("/", include_in_schema=False)
async def home(user: SignedIn) -> RedirectResponse:
    return RedirectResponse(home_of(user.role), status_code=status.HTTP_303_SEE_OTHER)


@router.get("/sign-in", name="sign_in")
async def sign_in_form(request: Request, reason: str | None = None) -> Response:
    if request.cookies.get(COOKIE) and await _signed_in(request):
        return RedirectResponse(f"{PREFIX}/", status_code=status.HTTP_303_SEE_OTHER)
    pre_session = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
    return _sign_in_page(request, pre_session, notice=_REASONS.get(reason or ""))


def _refused(status_code: int, message: str, rule: str, fix: str) -> Refusal:
    return Refusal(status_code, "未能登录", message, rule, fix)


@router.post("/sign-in")
async def sign_in(
    request: Request,
    state: Annotated[ConsoleState, Depends(console_state)],
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    expected = request.cookies.get(SIGN_IN_COOKIE)
    if expected is None or not same_secret(csrf, expected):
        raise CsrfRefused()
    now = state.now()
    tokens: TokenStore = request.app.state.services.tokens
    try:
        found = tokens.verify(token.strip(), now=now.astimezone(UTC))
    except TokenRejected:
        return _sign_in_page(
            request,
            expected,
            error=_refused(
                status.HTTP_401_UNAUTHORIZED,
                "令牌不对，或已过期、已被撤销。",
                "token_rejected",
                "请核对令牌后重新输入（区分大小写，以 tb_ 开头）；"
                "如已过期，请向运维人员申领新令牌。",
            ),
        )
    if found.region != state.region:
        return _sign_in_page(
            request,
            expected,
            error=_refused(
                status.HTTP_403_FORBIDDEN,
                f"这是{_region_label(found.region)}的令牌，这里是"
                f"{_region_label(state.region)}的系统。",
                "token_of_another_region",
                "请打开您所在地区的系统登录。",
            ),
        )
    session_id = new_session_id()
    await state.sessions.prune(now=now, idle=state.config.idle_timeout)
    await state.sessions.create(
        StoredSession(
            session_sha256=session_hash(session_id),
            token_id=token_id(token.strip()),
            region=found.region,
            role=found.role,
            window=found.window,
            person_id=found.person_id,
            person_name=found.person_name,
            csrf_secret=new_csrf_secret(),
            created_at=now,
            last_seen=now,
            expires_at=now + state.config.lifetime,
        )
    )
    response = RedirectResponse(home_of(found.role), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        session_id,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=_SIGN_IN_PATH)
    return response


@router.post("/sign-out", dependencies=[Depends(checked_form)])
async def sign_out(
    request: Request, state: Annotated[ConsoleState, Depends(console_state)]
) -> Response:
    session_id = request.cookies.get(COOKIE)
    if session_id:
        await state.sessions.delete(session_hash(session_id))
    response = RedirectResponse(
        f"{_SIGN_IN_PATH}?reason=signed-out", status_code=status.HTTP_303_SEE_OTHER
    )
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response
