"""The console in a TestClient: an API app for one region with a session store and a clock the
test holds, and signing in through the form as a person would (CSRF token and all)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from catalog.catalog import Catalog, default_catalog
from console.config import ConsoleConfig
from console.sessions import SessionStore
from events.credentials import RegionCredentials
from regions.api.app import create_app
from regions.api.services import ApiServices
from regions.tokens import Role, TokenStore

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PERSONS: dict[Role, tuple[str, str] | None] = {
    Role.WINDOW_CLERK: ("C-0001", "林晓燕"),
    Role.PROCESSING_OFFICER: ("O-0001", "陈志强"),
    Role.OPERATOR: None,
}


@dataclass
class Clock:
    """The console's clock, moved by the test (never by sleeping)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 27, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def console_app(
    region: str,
    *,
    tokens: TokenStore,
    sessions: SessionStore,
    credentials: RegionCredentials,
    clock: Clock,
    client: Any = None,
    pool: Any = None,
    catalog: Catalog | None = None,
    idle: timedelta = timedelta(minutes=15),
    lifetime: timedelta = timedelta(hours=8),
) -> FastAPI:
    """The node's whole app (API and console) for `region`; Temporal and the pool as given
    (None where a test's pages do not reach them)."""
    services = ApiServices(
        region=region,
        pool=cast(Any, pool),
        client=cast(Any, client),
        credentials=credentials,
        catalog=catalog or default_catalog(),
        policies=cast(Any, None),
        tokens=tokens,
    )
    return create_app(
        services,
        ConsoleConfig(idle_timeout=idle, lifetime=lifetime, clock=clock, sessions=sessions),
    )


def issue(
    tokens: TokenStore,
    region: str,
    role: Role,
    *,
    clock: Clock,
    person: tuple[str, str] | None = None,
    valid_for: timedelta = timedelta(days=1),
) -> str:
    person_id, person_name = person or PERSONS[role] or (None, None)
    token, _ = tokens.issue(
        region=region,
        role=role,
        window=f"{region}-{role.value}",
        valid_for=valid_for,
        now=clock(),
        person_id=person_id,
        person_name=person_name,
    )
    return token


def csrf_of(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(page)
    assert found is not None, "the page has no form with a CSRF field"
    return found.group(1)


@contextlib.asynccontextmanager
async def console_client(app: FastAPI, *, https: bool = False) -> AsyncIterator[AsyncClient]:
    """An HTTP client on the app in the test's own event loop (a Postgres pool made by an async
    fixture works in it, unlike in TestClient's thread). Failures come back as pages."""
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    base = "https://testserver" if https else "http://testserver"
    async with AsyncClient(transport=transport, base_url=base) as http:
        yield http


async def sign_in(http: AsyncClient, token: str) -> Response:
    """Open the sign-in form and send the token with the form's own CSRF token; the answer is
    not followed (303 to the role's section on success)."""
    form = await http.get("/console/sign-in")
    assert form.status_code == 200, form.text
    answer: Response = await http.post(
        "/console/sign-in",
        data={"token": token, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    return answer
