"""The console's sessions and guards (issue 18, decision 0032): no page without a session, the
role decides the section, every POST carries the session's CSRF token, a session or token of
another region is refused, idle and absolute expiry, a revoked token ends the session, cookie
and security headers, error pages without a traceback.

Each scenario runs on the region's Postgres (a scratch database with every migration) and on
the in-memory store that page tests use, so both keep the same contract.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import jinja2
import pytest
from fastapi import FastAPI, Request

from console.app import console_of
from console.auth import COOKIE, CheckedForm, WindowClerkPage
from console.pages import render_form, templates
from console.sessions import MemorySessionStore, PostgresSessionStore, SessionStore
from deploy.stack.migrations import apply_migrations
from deploy.stack.settings import StackEndpoints, StackSettings
from events.credentials import RegionCredentials
from events.keystore import KeyStore
from regions.api.steps import StepRefused
from regions.database import create_pool
from regions.tokens import Role, TokenStore, token_id
from tests.support.console import Clock, console_app, console_client, csrf_of, issue, sign_in

A, B = "350000", "440000"
SECRET_ID = "350102199001011234"  # an ID number a failing page must never show


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    store = KeyStore(tmp_path_factory.mktemp("trust"))
    store.bootstrap(
        {A: ("福建省", None), B: ("广东省", None)},
        validity=timedelta(days=30),
        now=datetime.now(UTC) - timedelta(days=1),
    )
    return store


@pytest.fixture
async def scratch_pool(
    stack: StackEndpoints, stack_settings: StackSettings
) -> AsyncIterator[asyncpg.Pool]:
    name = f"tongban_console_{secrets.token_hex(4)}"
    server = await asyncpg.connect(stack.postgres_dsn)
    await server.execute(f'CREATE DATABASE "{name}"')
    scratch = urlunsplit(urlsplit(stack.postgres_dsn)._replace(path=f"/{name}"))
    try:
        await apply_migrations(scratch, stack_settings.migrations_dir)
        pool = await create_pool(scratch, min_size=1, max_size=4)
        try:
            yield pool
        finally:
            await pool.close()
    finally:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.integration)])
def sessions(request: pytest.FixtureRequest) -> SessionStore:
    if request.param == "memory":
        return MemorySessionStore()
    pool: asyncpg.Pool = request.getfixturevalue("scratch_pool")
    return PostgresSessionStore(pool)


@pytest.fixture
def clock() -> Clock:
    # Within the tokens' and the directory's validity: the console's clock is also the one the
    # tokens are checked against.
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens")


class _NoCaseRecords:
    """The sections' queues read case records; these tests are about sessions, so the node's
    database and Temporal answer "no cases" (see `_no_cases`)."""

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[None]:
        yield None


@pytest.fixture(autouse=True)
def _no_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    async def none(*_: object) -> list[object]:
        return []

    import console.office_pages
    import console.operator_pages
    import operators.listing

    for module in (operators.listing, console.office_pages, console.operator_pages):
        monkeypatch.setattr(module, "region_cases", none)


def _app(
    region: str, keystore: KeyStore, tokens: TokenStore, sessions: SessionStore, clock: Clock
) -> FastAPI:
    app = console_app(
        region,
        tokens=tokens,
        sessions=sessions,
        credentials=RegionCredentials(keystore, region),
        clock=clock,
        pool=_NoCaseRecords(),
    )
    _add_test_pages(app)
    return app


def _add_test_pages(app: FastAPI) -> None:
    """A window form whose step the workflow refuses, and a page that fails unexpectedly: what
    section pages will do, to see the console's answers to them."""
    console = console_of(app)

    @console.post("/window/test-step")
    async def step(user: WindowClerkPage, form: CheckedForm) -> object:
        raise StepRefused("case is in status forwarded; formal review is over", "not_in_review")

    @console.post("/window/test-refused-form")
    async def refused_form(request: Request, user: WindowClerkPage, form: CheckedForm) -> object:
        try:
            raise StepRefused("materials missing: 社会保障卡申领登记表", "one_time_notice")
        except StepRefused as exc:
            return render_form(
                request, "test_form.html", {"title": "形式审查"}, form=form, error=exc
            )

    @console.get("/window/test-crash")
    async def crash(user: WindowClerkPage) -> object:
        raise RuntimeError(f"applicant {SECRET_ID} broke something")


# A form page as the sections write them: the macros of _form.html, the kept input, the refusal.
TEST_FORM = """{% extends "base.html" %}
{% from "_form.html" import refusal, text_field, checkbox_field %}
{% block content %}
{{ refusal(error) }}
<form method="post">{{ csrf_field() }}
{{ text_field("note", "告知内容", form) }}
{{ checkbox_field("missing", "甲", form, value="甲") }}
{{ checkbox_field("missing", "丙", form, value="丙") }}
</form>
{% endblock %}"""


@pytest.fixture(autouse=True)
async def test_form_template(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = templates.env.loader
    assert loader is not None
    monkeypatch.setattr(
        templates.env,
        "loader",
        jinja2.ChoiceLoader([loader, jinja2.DictLoader({"test_form.html": TEST_FORM})]),
    )


@pytest.fixture
async def fujian(
    keystore: KeyStore, tokens: TokenStore, sessions: SessionStore, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    async with console_client(_app(A, keystore, tokens, sessions, clock)) as http:
        yield http


@pytest.fixture
async def guangdong(
    keystore: KeyStore, tokens: TokenStore, sessions: SessionStore, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    # Its own node, but (to prove the region check, not the database's separation) the same
    # session store as 福建's.
    async with console_client(_app(B, keystore, tokens, sessions, clock)) as http:
        yield http


async def _signed_in(http: httpx.AsyncClient, tokens: TokenStore, role: Role, clock: Clock) -> str:
    token = issue(tokens, A, role, clock=clock)
    answer = await sign_in(http, token)
    assert answer.status_code == 303, answer.text
    return token


async def test_no_page_without_a_session(fujian: httpx.AsyncClient) -> None:
    for path in ("/console/", "/console/window/", "/console/office/", "/console/operators/"):
        answer = await fujian.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/console/sign-in"
    # A POST without a session does nothing and is sent to sign in too.
    answer = await fujian.post(
        "/console/window/test-step", data={"csrf": "x"}, follow_redirects=False
    )
    assert answer.status_code == 303
    # A made-up cookie is no session.
    fujian.cookies.set(COOKIE, secrets.token_urlsafe(32), path="/console")
    answer = await fujian.get("/console/window/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?reason=expired"


async def test_sign_in_opens_the_role_section_and_shows_the_person(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock, sessions: SessionStore
) -> None:
    token = issue(tokens, A, Role.WINDOW_CLERK, clock=clock)
    answer = await sign_in(fujian, token)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/window/"
    page = await fujian.get("/console/window/")
    assert page.status_code == 200
    for shown in ("福建省", "林晓燕", "C-0001", "窗口人员", "退出登录", 'href="/console/window/"'):
        assert shown in page.text
    assert 'href="/console/office/"' not in page.text  # navigation by role
    # The store holds the session id's hash and the token's id, never either secret.
    if isinstance(sessions, MemorySessionStore):
        (stored,) = sessions.rows.values()
        cookie = fujian.cookies[COOKIE]
        assert cookie not in repr(stored)
        assert token not in repr(stored)
        assert stored.token_id == token_id(token)


async def test_postgres_keeps_only_hashes(
    scratch_pool: asyncpg.Pool, keystore: KeyStore, tokens: TokenStore, clock: Clock
) -> None:
    async with console_client(
        _app(A, keystore, tokens, PostgresSessionStore(scratch_pool), clock)
    ) as http:
        token = await _signed_in(http, tokens, Role.PROCESSING_OFFICER, clock)
        cookie = http.cookies[COOKIE]
    rows = await scratch_pool.fetch("SELECT * FROM console_sessions")
    assert len(rows) == 1
    dumped = repr(dict(rows[0]))
    assert cookie not in dumped
    assert token not in dumped
    assert rows[0]["token_id"] == token_id(token)
    assert rows[0]["role"] == "processing-officer"
    assert rows[0]["region"] == A


async def test_cookie_flags(
    fujian: httpx.AsyncClient,
    keystore: KeyStore,
    tokens: TokenStore,
    sessions: SessionStore,
    clock: Clock,
) -> None:
    token = issue(tokens, A, Role.OPERATOR, clock=clock)
    form = await fujian.get("/console/sign-in")
    pre = form.headers["set-cookie"].lower()
    assert "httponly" in pre
    assert "samesite=strict" in pre
    answer = await fujian.post(
        "/console/sign-in",
        data={"token": token, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    session_cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")
    )
    flags = [part.strip().lower() for part in session_cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/console" in flags
    assert "secure" not in flags  # plain http here; https sets it
    async with console_client(_app(A, keystore, tokens, sessions, clock), https=True) as https:
        form = await https.get("/console/sign-in")
        assert "secure" in [p.strip().lower() for p in form.headers["set-cookie"].split(";")]
        answer = await https.post(
            "/console/sign-in",
            data={"token": token, "csrf": csrf_of(form.text)},
            follow_redirects=False,
        )
        session_cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")
        )
        assert "secure" in [p.strip().lower() for p in session_cookie.split(";")]


async def test_wrong_role_gets_the_403_page(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    await _signed_in(fujian, tokens, Role.WINDOW_CLERK, clock)
    for path in ("/console/office/", "/console/operators/"):
        answer = await fujian.get(path)
        assert answer.status_code == 403
        assert "无权打开此页面" in answer.text
        assert "窗口人员" in answer.text
    assert (await fujian.get("/console/window/")).status_code == 200


async def test_csrf_required_on_sign_in(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    token = issue(tokens, A, Role.WINDOW_CLERK, clock=clock)
    form = await fujian.get("/console/sign-in")
    for data in ({"token": token}, {"token": token, "csrf": "forged-" + csrf_of(form.text)}):
        answer = await fujian.post("/console/sign-in", data=data, follow_redirects=False)
        assert answer.status_code == 403
        assert "表单已失效" in answer.text
        assert COOKIE not in answer.cookies
    # Without the pre-session cookie (a page of another site posting), the field alone fails.
    fujian.cookies.clear()
    answer = await fujian.post(
        "/console/sign-in",
        data={"token": token, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 403


async def test_csrf_required_on_every_post(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    await _signed_in(fujian, tokens, Role.WINDOW_CLERK, clock)
    page = await fujian.get("/console/window/")
    csrf = csrf_of(page.text)
    for path in ("/console/sign-out", "/console/window/test-step"):
        for data in ({}, {"csrf": ""}, {"csrf": csrf[:-2] + "xx"}):
            answer = await fujian.post(path, data=data, follow_redirects=False)
            assert answer.status_code == 403, (path, data)
            assert "表单已失效" in answer.text
    # Multipart (the window's uploads) is checked the same way.
    answer = await fujian.post(
        "/console/window/test-step",
        data={"csrf": "wrong"},
        files={"material": ("a.pdf", b"%PDF-1.7", "application/pdf")},
    )
    assert answer.status_code == 403
    # Nothing was done: the session is still there.
    assert (await fujian.get("/console/window/")).status_code == 200
    # With the token, the step reaches the page (which the workflow refuses: the 409 page).
    answer = await fujian.post(
        "/console/window/test-step",
        data={"csrf": csrf},
        files={"material": ("a.pdf", b"%PDF-1.7", "application/pdf")},
    )
    assert answer.status_code == 409
    assert "这一步未被接受" in answer.text
    assert "not_in_review" in answer.text


async def test_sign_out_ends_the_session(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    await _signed_in(fujian, tokens, Role.PROCESSING_OFFICER, clock)
    page = await fujian.get("/console/office/")
    cookie = fujian.cookies[COOKIE]
    answer = await fujian.post(
        "/console/sign-out", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?reason=signed-out"
    # The old cookie, sent again, opens nothing: the session is gone from the store.
    fujian.cookies.set(COOKIE, cookie, path="/console")
    assert (await fujian.get("/console/office/", follow_redirects=False)).status_code == 303


async def test_token_of_another_region_cannot_sign_in(
    guangdong: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    token = issue(tokens, A, Role.WINDOW_CLERK, clock=clock)
    answer = await sign_in(guangdong, token)
    assert answer.status_code == 403
    assert "福建省" in answer.text
    assert "广东省" in answer.text
    assert COOKIE not in answer.cookies


async def test_session_of_another_region_is_refused(
    fujian: httpx.AsyncClient, guangdong: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    await _signed_in(fujian, tokens, Role.WINDOW_CLERK, clock)
    cookie = fujian.cookies[COOKIE]
    guangdong.cookies.set(COOKIE, cookie, path="/console")
    answer = await guangdong.get("/console/window/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in")


async def test_idle_timeout_and_lifetime(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    await _signed_in(fujian, tokens, Role.WINDOW_CLERK, clock)
    # Active every 14 minutes: the session lives on ...
    for _ in range(3):
        clock.advance(timedelta(minutes=14))
        assert (await fujian.get("/console/window/", follow_redirects=False)).status_code == 200
    # ... until 15 minutes pass without a request.
    clock.advance(timedelta(minutes=15))
    answer = await fujian.get("/console/window/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?reason=expired"
    # However active, 8 hours is the end.
    await _signed_in(fujian, tokens, Role.WINDOW_CLERK, clock)
    for _ in range(34):  # 34 × 14 min = 7 h 56 min
        clock.advance(timedelta(minutes=14))
        assert (await fujian.get("/console/window/", follow_redirects=False)).status_code == 200
    clock.advance(timedelta(minutes=5))
    assert (await fujian.get("/console/window/", follow_redirects=False)).status_code == 303


async def test_revoked_token_ends_the_session(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    token = await _signed_in(fujian, tokens, Role.WINDOW_CLERK, clock)
    assert (await fujian.get("/console/window/", follow_redirects=False)).status_code == 200
    tokens.revoke(token_id(token), now=clock(), region=A)
    answer = await fujian.get("/console/window/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?reason=revoked"
    # The session is over, not only this request: signing in again needs a live token.
    assert (await fujian.get("/console/window/", follow_redirects=False)).status_code == 303
    assert (await sign_in(fujian, token)).status_code == 401


async def test_expired_token_ends_the_session(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    token = issue(tokens, A, Role.WINDOW_CLERK, clock=clock, valid_for=timedelta(minutes=20))
    assert (await sign_in(fujian, token)).status_code == 303
    clock.advance(timedelta(minutes=14))
    assert (await fujian.get("/console/window/", follow_redirects=False)).status_code == 200
    clock.advance(timedelta(minutes=7))
    answer = await fujian.get("/console/window/", follow_redirects=False)
    assert answer.headers["location"] == "/console/sign-in?reason=revoked"


async def test_security_headers(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    await _signed_in(fujian, tokens, Role.WINDOW_CLERK, clock)
    for answer in (
        (await fujian.get("/console/sign-in")),
        (await fujian.get("/console/window/")),
        (await fujian.get("/console/office/")),  # the 403 page
        (await fujian.get("/console/no-such-page")),
    ):
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
    page = (await fujian.get("/console/window/")).text
    assert "<script>" not in page
    assert "style=" not in page
    static = await fujian.get("/console/static/console.css")
    assert static.status_code == 200
    assert "text/css" in static.headers["content-type"]
    assert (await fujian.get("/console/static/console.js")).status_code == 200


async def test_error_pages_name_what_to_do_and_show_no_traceback(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    await _signed_in(fujian, tokens, Role.WINDOW_CLERK, clock)
    crash = await fujian.get("/console/window/test-crash")
    assert crash.status_code == 500
    assert crash.headers["content-type"].startswith("text/html")
    assert "系统出错" in crash.text
    assert "参考编号" in crash.text
    assert "Traceback" not in crash.text
    assert "RuntimeError" not in crash.text
    assert SECRET_ID not in crash.text
    assert SECRET_ID not in caplog.text  # the log names the failure, not its message
    assert "RuntimeError" in caplog.text
    missing = await fujian.get("/console/no-such-page")
    assert missing.status_code == 404
    assert "没有这个页面" in missing.text
    # The API beside it keeps its JSON problems.
    assert (await fujian.get("/no-such-api")).headers["content-type"] == "application/json"


async def test_refused_form_keeps_the_input(
    fujian: httpx.AsyncClient, tokens: TokenStore, clock: Clock
) -> None:
    await _signed_in(fujian, tokens, Role.WINDOW_CLERK, clock)
    csrf = csrf_of((await fujian.get("/console/window/")).text)
    answer = await fujian.post(
        "/console/window/test-refused-form",
        data={"csrf": csrf, "note": "请补交<登记表>", "missing": ["甲", "乙"]},
    )
    assert answer.status_code == 409
    assert "materials missing: 社会保障卡申领登记表" in answer.text
    assert "one_time_notice" in answer.text
    assert 'value="请补交&lt;登记表&gt;"' in answer.text  # kept, and escaped
    assert "<登记表>" not in answer.text
    assert 'value="甲" checked' in answer.text
    assert 'value="丙" checked' not in answer.text
    # The re-rendered form carries the session's CSRF token again.
    assert csrf_of(answer.text) == csrf
