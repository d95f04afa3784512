"""Who is signed in at the console, what their role lets them open, and the CSRF check.

`ConsoleUser` is the dependency every page starts from: the session named by the cookie, alive
in this region's store, whose token is still active in the token file (read on every request,
as the API does, so a revocation ends the session at the next click). Without one the person is
sent to sign in (303); with the wrong role they get the 403 page. Every POST also passes
`CheckedForm` (or calls `check_csrf`): the session's CSRF token, compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from console.config import ConsoleState
from console.sessions import session_hash
from regions.api.auth import services
from regions.api.services import ApiServices
from regions.tokens import Principal, Role, TokenState

COOKIE = "tongban_console"
CSRF_FIELD = "csrf"
PREFIX = "/console"

ROLE_LABELS: dict[Role, str] = {
    Role.WINDOW_CLERK: "窗口人员",
    Role.PROCESSING_OFFICER: "办理人员",
    Role.OPERATOR: "运维人员",
}


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    role: Role
    href: str


# Navigation by role: each person sees the section of their role.
SECTIONS: tuple[Section, ...] = (
    Section("window", "窗口", Role.WINDOW_CLERK, f"{PREFIX}/window/"),
    Section("office", "办理", Role.PROCESSING_OFFICER, f"{PREFIX}/office/"),
    Section("operators", "运维", Role.OPERATOR, f"{PREFIX}/operators/"),
)


def home_of(role: Role) -> str:
    return next(s.href for s in SECTIONS if s.role is role)


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in person, as the session and their (still active) token say."""

    role: Role
    region: str
    window: str
    person_id: str | None
    person_name: str | None
    token_id: str
    csrf: str
    session_expires_at: datetime

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    @property
    def display_name(self) -> str:
        return self.person_name or self.window

    @property
    def sections(self) -> tuple[Section, ...]:
        return tuple(s for s in SECTIONS if s.role is self.role)

    def principal(self) -> Principal:
        """As the API's bearer token would give it: pass to `regions.api.auth.step_actor` so
        the step records this person."""
        return Principal(
            self.role,
            self.region,
            self.window,
            person_id=self.person_id,
            person_name=self.person_name,
        )


class SignInRequired(Exception):
    """No live session: the console answers 303 to the sign-in page. `reason` (`expired`,
    `revoked`) is shown there; it names nothing about the person."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "no session")
        self.reason = reason


class RoleRefused(Exception):
    """A signed-in person whose role may not open the page (403 page)."""

    def __init__(self, user: ConsoleUser, allowed: tuple[Role, ...]) -> None:
        super().__init__(f"role {user.role.value} may not open this page")
        self.user = user
        self.allowed = allowed


class CsrfRefused(Exception):
    """A POST without the session's CSRF token, or with another one (403 page, nothing done)."""


def console_state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


async def console_user(request: Request) -> ConsoleUser:
    cached = getattr(request.state, "console_user", None)
    if isinstance(cached, ConsoleUser):
        return cached
    state = console_state(request)
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise SignInRequired()
    hashed = session_hash(session_id)
    now = state.now()
    session = await state.sessions.touch(
        hashed, region=state.region, now=now, idle=state.config.idle_timeout
    )
    if session is None:
        await state.sessions.delete(hashed)
        raise SignInRequired("expired")
    svc: ApiServices = request.app.state.services
    record = next(
        (r for r in svc.tokens.records(state.region) if r.token_id == session.token_id), None
    )
    if (
        record is None
        or record.state(now) is not TokenState.ACTIVE
        or record.region != state.region
        or record.role is not session.role
    ):
        # The token was revoked, expired or removed: the session it opened ends with it.
        await state.sessions.delete(hashed)
        raise SignInRequired("revoked")
    user = ConsoleUser(
        role=session.role,
        region=session.region,
        window=session.window,
        person_id=session.person_id,
        person_name=session.person_name,
        token_id=session.token_id,
        csrf=session.csrf_secret,
        session_expires_at=session.expires_at,
    )
    request.state.console_user = user
    return user


SignedIn = Annotated[ConsoleUser, Depends(console_user)]


def require_role(*allowed: Role) -> Callable[..., Coroutine[Any, Any, ConsoleUser]]:
    """A dependency: the signed-in person, if their role is one of `allowed`."""

    async def check(user: SignedIn) -> ConsoleUser:
        if user.role not in allowed:
            raise RoleRefused(user, allowed)
        return user

    return check


WindowClerkPage = Annotated[ConsoleUser, Depends(require_role(Role.WINDOW_CLERK))]
OfficerPage = Annotated[ConsoleUser, Depends(require_role(Role.PROCESSING_OFFICER))]
OperatorPage = Annotated[ConsoleUser, Depends(require_role(Role.OPERATOR))]
ConsoleServices = Annotated[ApiServices, Depends(services)]


def same_secret(submitted: object, expected: str) -> bool:
    if not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(submitted.encode(), expected.encode())


def check_csrf(user: ConsoleUser, submitted: object) -> None:
    """For a page that reads its body itself (a streaming upload): call with the `csrf` field
    before acting on anything else in the request. Raises `CsrfRefused`."""
    if not same_secret(submitted, user.csrf):
        raise CsrfRefused()


async def checked_form(request: Request, user: SignedIn) -> FormData:
    """The POSTed form (urlencoded or multipart), once its `csrf` field is the session's."""
    form = await request.form()
    check_csrf(user, form.get(CSRF_FIELD))
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]
