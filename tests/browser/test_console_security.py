"""The console's guards on the real nodes, for every page and form the console has (issue 18,
"Security tests"): the routes are read from the console's own routers, so a page or form added
later is checked too (or fails here until it is listed).

- No page and no form without a session: every GET and POST of the 窗口, 办理 and 运维 sections
  answers 303 to the sign-in page, and shows nothing of the case.
- The role decides: a clerk opens no office or operators' page, an officer no window or
  operators' page, an operator no window or office page, and none of them can send another
  role's form even with their own valid form token (403, nothing done).
- Every form needs the session's CSRF token: each POST without it, with an empty one or with
  another session's refuses with 403 and does nothing (statuses, the dead letter, the cases
  table and the file store unchanged); with the token the same request is taken.
- A session of one region is refused by the other region's node (httpx, and in the browser).

(Session mechanics themselves — idle timeout, lifetime, revocation, cookie flags, headers —
are tests/integration/test_console_sessions.py. No personal data in URLs or node logs is checked
on a whole case in tests/browser/test_console_end_to_end.py.)
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute

from console.app import SECTION_ROUTERS
from console.auth import COOKIE, PREFIX
from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from regions.tokens import Role
from tests.browser.console import ConsoleBrowser
from tests.browser.test_console_end_to_end import A, Applicant, B, manual_pair
from tests.browser.test_office_pages import pdf_file, png_file
from tests.integration.api_nodes import API, ITEM, ApiPair, auth
from tests.support.console import csrf_of, sign_in
from tests.waiting import eventually

pytestmark = pytest.mark.integration

OPERATOR = ("T-OPS", "测试运维人员")
SECTION_ROLE = {"window": Role.WINDOW_CLERK, "office": Role.PROCESSING_OFFICER}
SECTION_ROLE["operators"] = Role.OPERATOR
SECTION_HOME = {Role.WINDOW_CLERK: A, Role.PROCESSING_OFFICER: B, Role.OPERATOR: A}
SIGN_IN = re.compile(r"^/console/sign-in(\?reason=\w+)?$")
CSRF_REFUSED = "表单已失效"
TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module")
async def console_nodes(
    stack: StackEndpoints, stack_settings: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiPair]:
    async with manual_pair(stack, stack_settings, tmp_path_factory.mktemp("tokens")) as nodes:
        yield nodes


# --- Cases to aim the forms at --------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    case_no: str
    applicant: Applicant
    material: str  # a material's SHA-256


async def status_of(nodes: ApiPair, region: str, case_no: str) -> str | None:
    async with httpx.AsyncClient(base_url=API[region], timeout=TIMEOUT) as http:
        answer = await http.get(
            f"/cases/{case_no}", headers=auth(nodes.token(region, Role.OPERATOR))
        )
    return str(answer.json()["summary"]["status"]) if answer.status_code == 200 else None


async def until_status(nodes: ApiPair, region: str, case_no: str, wanted: str) -> None:
    await eventually(
        lambda: status_of(nodes, region, case_no),
        until=lambda s: s == wanted,
        timeout=60,
        what=f"{case_no} {wanted} at {region}",
    )


async def submitted(nodes: ApiPair) -> Case:
    """A case taken at 350000's window through the API, waiting for its formal review."""
    applicant = Applicant.fresh()
    scan, form = pdf_file(applicant.phone), png_file(30, 20)
    application = {
        "item_code": ITEM,
        "processing_region": B,
        "applicant_name": applicant.name,
        "applicant_id_number": applicant.id_number,
        "applicant_phone": applicant.phone,
        "fee_fen": 0,
    }
    parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
        ("application", (None, json.dumps(application).encode(), "application/json")),
        ("material", ("id.pdf", scan, "application/pdf")),
        ("material", ("form.png", form, "image/png")),
    ]
    data = {"material_names": ["居民身份证", "社会保障卡申领登记表"]}
    async with httpx.AsyncClient(base_url=API[A], timeout=TIMEOUT) as http:
        created = await http.post(
            "/window/cases", files=parts, data=data, headers=auth(nodes.token(A, Role.WINDOW_CLERK))
        )
    assert created.status_code == 201, created.text[:500]
    case = Case(str(created.json()["case_no"]), applicant, hashlib.sha256(scan).hexdigest())
    await until_status(nodes, A, case.case_no, "formal-review")
    return case


@pytest.fixture(scope="module")
async def at_window(console_nodes: ApiPair) -> Case:
    """In formal review at 350000: the window's steps would be taken."""
    return await submitted(console_nodes)


@pytest.fixture(scope="module")
async def at_office(console_nodes: ApiPair) -> Case:
    """Received at 440000 (its file complete): the office's steps would be taken."""
    case = await submitted(console_nodes)
    async with httpx.AsyncClient(base_url=API[A], timeout=TIMEOUT) as http:
        passed = await http.post(
            f"/window/cases/{case.case_no}/formal-review",
            json={"outcome": "pass"},
            headers=auth(console_nodes.token(A, Role.WINDOW_CLERK)),
        )
    assert passed.status_code == 200, passed.text
    await until_status(console_nodes, B, case.case_no, "received")
    return case


@pytest.fixture(scope="module")
async def dead_letter(stack: StackEndpoints, at_window: Case) -> AsyncIterator[int]:
    """An effect of the case that 350000's bank system never took."""
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        effect_id: int = await conn.fetchval(
            "INSERT INTO effect_orders (case_no, key, effect, amount_fen, detail, adapter, state,"
            " attempts, reason) VALUES ($1, 'security-refund', 'refund-fee', 500, 'test',"
            " 'bank', 'dead', 5, 'HTTP 503 five times') RETURNING id",
            at_window.case_no,
        )
        yield effect_id
    finally:
        await conn.close()


# --- The console's routes, with real values for their parameters -------------------------------


@dataclass(frozen=True)
class Route:
    section: str
    method: str
    template: str  # as the router has it, under /console

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def console_routes() -> Iterator[Route]:
    for router in SECTION_ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            section = route.path.strip("/").split("/")[0]
            for method in sorted(route.methods or ()):
                yield Route(section, method, route.path)


def address(route: Route, window: Case, office: Case, effect_id: int) -> str:
    """The route's address for the case its section works on (the operators': the office's)."""
    case = window if route.section == "window" else office
    number = f"{A if route.section == 'window' else B}-2026-SL-000001"
    values = {
        "case_no": case.case_no,
        "sha256": case.material,
        "number": number,
        "effect_id": str(effect_id),
        "item_code": ITEM,
        # The 差评 forms are refused before they look the rating up: any id will do.
        "rating_id": "rating-security-0001",
        "stage": "revisit",
    }
    path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route.template)
    assert "{" not in path, f"no value for a parameter of {route.key}"
    suffix = f"?processing_region={B}" if route.template == "/window/apply/{item_code}" else ""
    return f"{PREFIX}{path}{suffix}"


def refusal_of(answer: httpx.Response) -> str:
    found = re.search(r'role="alert">(.*?)</div>', answer.text, re.S)
    return found.group(0) if found else answer.text[:300]


def shows_nothing_of(answer: httpx.Response, *cases: Case) -> bool:
    return not any(trace in answer.text for c in cases for trace in c.applicant.traces())


# --- What each form sends when a person fills it in ---------------------------------------------

# Bytes of this run only (files are stored by digest, across runs): the store must not get them.
NEW_SCAN = pdf_file(f"new application {secrets.token_hex(8)}")
SUPPLEMENT_SCAN = pdf_file(f"supplement {secrets.token_hex(8)}")


def new_application() -> tuple[dict[str, Any], list[tuple[str, tuple[str, bytes, str]]]]:
    applicant = Applicant.fresh()
    data = {
        "submission_key": f"security-{applicant.phone}",
        "item_code": ITEM,
        "item_version": "1",
        "processing_region": B,
        "fee_fen": "0",
        "applicant_name": applicant.name,
        "applicant_id_number": applicant.id_number,
        "applicant_phone": applicant.phone,
        "material_names": ["居民身份证", "社会保障卡申领登记表"],
    }
    files = [
        ("material", ("id.pdf", NEW_SCAN, "application/pdf")),
        ("material", ("form.png", png_file(31, 19), "image/png")),
    ]
    return data, files


def form_of(route: Route) -> tuple[dict[str, Any], list[tuple[str, tuple[str, bytes, str]]]]:
    """A complete form for `route`, as its page would send it (without the csrf field)."""
    forms: dict[str, dict[str, Any]] = {
        "POST /window/cases/{case_no}/formal-review": {"outcome": "pass"},
        "POST /window/cases/{case_no}/withdrawal": {
            "withdraw_reason": "申请人不再办理",
            "confirmed": "on",
        },
        "POST /window/cases/{case_no}/delivery": {"channel": "window"},
        "POST /office/cases/{case_no}/acceptance": {"decision": "accept"},
        "POST /office/cases/{case_no}/supplement-request": {
            "missing": "居民身份证",
            "supplement_reason": "复印件不清晰",
        },
        "POST /office/cases/{case_no}/decision": {
            "outcome": "approve",
            "approve_reason": "符合条件",
        },
        "POST /operators/effects/{effect_id}/retry": {},
        "POST /operators/effects/{effect_id}/resolve": {"note": "已在窗口现金退费"},
        "POST /window/ratings/{rating_id}/{stage}": {"note": "已电话回访申请人"},
        "POST /office/ratings/{rating_id}/{stage}": {"note": "已电话回访申请人"},
    }
    if route.key == "POST /window/apply":
        return new_application()
    if route.key == "POST /window/cases/{case_no}/supplement":
        data = {"material_names": ["居民身份证"], "originals_checked": ["居民身份证"]}
        return data, [("material", ("again.pdf", SUPPLEMENT_SCAN, "application/pdf"))]
    assert route.key in forms, f"{route.key}: a form this test does not know yet"
    return forms[route.key], []


async def post(
    http: httpx.AsyncClient,
    url: str,
    data: dict[str, Any],
    files: list[tuple[str, tuple[str, bytes, str]]],
    csrf: str | None,
) -> httpx.Response:
    """As the browser sends it: the csrf field first (the upload pages read it first)."""
    fields = ({"csrf": csrf} if csrf is not None else {}) | data
    return await http.post(url, data=fields, files=files or None, follow_redirects=False)


async def send(http: httpx.AsyncClient, route: Route, url: str, csrf: str) -> httpx.Response:
    """The page (GET), or its form filled in and sent with `csrf` (POST)."""
    if route.method == "GET":
        return await http.get(url, follow_redirects=False)
    data, files = form_of(route)
    return await post(http, url, data, files, csrf)


# --- Sessions over HTTP -------------------------------------------------------------------------


@dataclass
class Person:
    http: httpx.AsyncClient
    role: Role
    region: str

    async def csrf(self) -> str:
        home = {Role.WINDOW_CLERK: "window", Role.PROCESSING_OFFICER: "office"}
        page = await self.http.get(f"{PREFIX}/{home.get(self.role, 'operators')}/")
        assert page.status_code == 200, page.text[:300]
        return csrf_of(page.text)


@pytest.fixture
async def people(console_nodes: ApiPair) -> AsyncIterator[dict[Role, Person]]:
    """A signed-in person of each role, each at the region their section works in."""
    signed: dict[Role, Person] = {}
    try:
        for role, region in SECTION_HOME.items():
            http = httpx.AsyncClient(base_url=API[region], timeout=TIMEOUT)
            signed[role] = Person(http, role, region)
            named = OPERATOR if role is Role.OPERATOR else None
            answer = await sign_in(http, console_nodes.token(region, role, person=named))
            assert answer.status_code == 303, answer.text[:300]
        yield signed
    finally:
        for person in signed.values():
            await person.http.aclose()


@dataclass(frozen=True)
class Observed:
    window_status: str | None
    office_status: str | None
    effect_state: str
    cases_at_a: int
    new_blobs: int


async def observe(
    nodes: ApiPair, stack: StackEndpoints, window: Case, office: Case, effect_id: int
) -> Observed:
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        effect_state = await conn.fetchval(
            "SELECT state FROM effect_orders WHERE id = $1", effect_id
        )
        cases = await conn.fetchval("SELECT count(*) FROM cases")
        blobs = await conn.fetchval(
            "SELECT count(*) FROM file_blobs WHERE sha256 = ANY($1)",
            [hashlib.sha256(b).hexdigest() for b in (NEW_SCAN, SUPPLEMENT_SCAN)],
        )
    finally:
        await conn.close()
    return Observed(
        await status_of(nodes, A, window.case_no),
        await status_of(nodes, B, office.case_no),
        str(effect_state),
        int(cases),
        int(blobs),
    )


# --- The tests ---------------------------------------------------------------------------------


def test_the_routes_checked_are_the_consoles() -> None:
    routes = list(console_routes())
    assert {r.section for r in routes} == set(SECTION_ROLE)
    assert len([r for r in routes if r.method == "GET"]) >= 15
    posts = [r for r in routes if r.method == "POST"]
    assert len(posts) >= 10
    for route in posts:  # every form is one `form_of` can fill in
        form_of(route)


async def test_no_page_and_no_form_without_a_session(
    console_nodes: ApiPair,
    stack: StackEndpoints,
    at_window: Case,
    at_office: Case,
    dead_letter: int,
) -> None:
    before = await observe(console_nodes, stack, at_window, at_office, dead_letter)
    for route in console_routes():
        region = SECTION_HOME[SECTION_ROLE[route.section]]
        url = address(route, at_window, at_office, dead_letter)
        async with httpx.AsyncClient(base_url=API[region], timeout=TIMEOUT) as http:
            answer = await send(http, route, url, csrf="forged")
            # A made-up session cookie is no session either.
            http.cookies.set(COOKIE, "a" * 43, path="/console")
            guessed = await send(http, route, url, csrf="forged")
        for seen in (answer, guessed):
            assert seen.status_code == 303, (route.key, seen.status_code)
            assert SIGN_IN.match(seen.headers["location"]), (route.key, seen.headers["location"])
            assert shows_nothing_of(seen, at_window, at_office), route.key
    assert await observe(console_nodes, stack, at_window, at_office, dead_letter) == before


async def test_each_role_opens_only_its_own_section(
    console_nodes: ApiPair,
    stack: StackEndpoints,
    people: dict[Role, Person],
    at_window: Case,
    at_office: Case,
    dead_letter: int,
) -> None:
    before = await observe(console_nodes, stack, at_window, at_office, dead_letter)
    refused = 0
    for route in console_routes():
        url = address(route, at_window, at_office, dead_letter)
        for role, person in people.items():
            if role is SECTION_ROLE[route.section]:
                continue
            # At their own node: the role is refused before the page looks at the case.
            # A form even with a valid token of their own session.
            answer = await send(person.http, route, url, await person.csrf())
            assert answer.status_code == 403, (role.value, route.key, answer.status_code)
            assert "无权打开此页面" in answer.text, (role.value, route.key)
            assert shows_nothing_of(answer, at_window, at_office), (role.value, route.key)
            refused += 1
    assert refused == 2 * len(list(console_routes()))  # each route, by the two other roles
    assert await observe(console_nodes, stack, at_window, at_office, dead_letter) == before


async def test_every_form_needs_the_sessions_csrf_token(
    console_nodes: ApiPair,
    stack: StackEndpoints,
    people: dict[Role, Person],
    at_window: Case,
    at_office: Case,
    dead_letter: int,
) -> None:
    # A second session of the same clerk: its token is valid, but not for the first session.
    other = httpx.AsyncClient(base_url=API[A], timeout=TIMEOUT)
    try:
        assert (await sign_in(other, console_nodes.token(A, Role.WINDOW_CLERK))).status_code == 303
        foreign = csrf_of((await other.get("/console/window/")).text)
    finally:
        await other.aclose()

    before = await observe(console_nodes, stack, at_window, at_office, dead_letter)
    assert before == Observed("formal-review", "received", "dead", before.cases_at_a, 0)
    posts = [r for r in console_routes() if r.method == "POST"]
    for route in posts:
        person = people[SECTION_ROLE[route.section]]
        url = address(route, at_window, at_office, dead_letter)
        own = await person.csrf()
        for csrf in (None, "", own[:-2] + ("xx" if not own.endswith("xx") else "yy"), foreign):
            data, files = form_of(route)
            answer = await post(person.http, url, data, files, csrf)
            assert answer.status_code == 403, (route.key, csrf, answer.status_code)
            assert CSRF_REFUSED in answer.text, route.key
            assert shows_nothing_of(answer, at_window, at_office), route.key
    # Nothing was done: no step, no case, no file stored, the dead letter untouched.
    assert await observe(console_nodes, stack, at_window, at_office, dead_letter) == before

    # With the token, the same forms are taken: it was the token and nothing else.
    clerk, officer, operator = (people[r] for r in SECTION_HOME)
    taken = {
        "POST /window/cases/{case_no}/formal-review": clerk,
        "POST /office/cases/{case_no}/acceptance": officer,
        "POST /operators/effects/{effect_id}/resolve": operator,
        "POST /window/apply": clerk,
    }
    for route in posts:
        if route.key not in taken:
            continue
        person = taken[route.key]
        data, files = form_of(route)
        url = address(route, at_window, at_office, dead_letter)
        answer = await post(person.http, url, data, files, await person.csrf())
        assert answer.status_code == 303, (route.key, refusal_of(answer))
    await until_status(console_nodes, A, at_window.case_no, "in-transit")
    await until_status(console_nodes, B, at_office.case_no, "processing")
    after = await observe(console_nodes, stack, at_window, at_office, dead_letter)
    assert (after.effect_state, after.cases_at_a, after.new_blobs) == (
        "resolved",
        before.cases_at_a + 1,
        1,
    )


async def test_a_session_of_one_region_is_refused_by_the_other(
    console_nodes: ApiPair, console: ConsoleBrowser, people: dict[Role, Person]
) -> None:
    clerk = people[Role.WINDOW_CLERK]
    cookie = clerk.http.cookies[COOKIE]
    async with httpx.AsyncClient(base_url=API[B], timeout=TIMEOUT) as guangdong:
        guangdong.cookies.set(COOKIE, cookie, path="/console")
        for path in ("/console/window/", "/console/office/", "/console/operators/"):
            answer = await guangdong.get(path, follow_redirects=False)
            assert answer.status_code == 303, path
            assert SIGN_IN.match(answer.headers["location"]), path
    assert (await clerk.http.get("/console/window/")).status_code == 200  # still good at A

    # In the browser: the cookie of 127.0.0.1 goes to both nodes (ports do not separate
    # cookies), and 440000 still asks the clerk of 350000 to sign in.
    signed = await console.signed_in(A, Role.WINDOW_CLERK)
    opened = await signed.page.goto(f"{API[B]}/console/window/")
    assert opened is not None
    assert opened.status == 200
    assert signed.page.url.startswith(f"{API[B]}/console/sign-in")
    assert await signed.page.get_by_label("本人的登录令牌").count() == 1
