"""全程网办 on the real stack (issue 19, decision 0034): an applicant signed in with a token of
the region's identity provider (a real provider process) applies at 福建 with an uploaded file
for an item 广东 decides; 广东's officer accepts, asks for 补正, which the applicant answers
online, and approves; the case closes as delivered electronically (电子送达) in both regions
and the applicant downloads the signed decision. Another applicant sees none of it; a window
asking for a mode the item does not allow is told the rule."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from regions.demo import synthetic_id_number
from regions.identity import subject_digest
from regions.policies import CasePolicies
from regions.tokens import Role
from tests.integration.api_nodes import ApiNodes, api_nodes, auth
from tests.integration.exchange_support import tongban
from tests.integration.lifecycle import MANUAL
from tests.support.identity_provider import (
    IdentityProviderProcess,
    Person,
    spawn_identity_provider,
)
from tests.waiting import eventually
from workflows.models import CaseTimings

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
ONLINE_ITEM = "GG-00105-000"  # 开具户籍类证明: 全程网办 among its modes, delivered online
ONLINE_ONLY = "GG-00301-000"  # 跨省异地就医登记备案: 全程网办 only
PORT_BASE = 18760
AUDIENCE = "tongban-350000-online"
TIMEOUT = httpx.Timeout(60.0)
# People decide every step; the applicant's 补正 and B's answer have time in a test.
POLICIES = CasePolicies(
    items={ONLINE_ITEM: MANUAL, ONLINE_ONLY: MANUAL},
    default=MANUAL,
    timings=CaseTimings(
        answer_timeout=timedelta(seconds=90),
        cancel_timeout=timedelta(seconds=30),
        delivery_wait=timedelta(seconds=120),
        working_day=timedelta(seconds=30),
        supplement_working_days=3,
    ),
)
ALICE = ("pseudonym-alice-7f3a", "张三", synthetic_id_number(serial="611"))
BOB = ("pseudonym-bob-91c2", "李四", synthetic_id_number(serial="622"))


@pytest.fixture(scope="module")
def provider() -> Iterator[IdentityProviderProcess]:
    with spawn_identity_provider(AUDIENCE) as idp:
        yield idp


@pytest.fixture(scope="module")
async def online(
    stack: StackEndpoints,
    stack_settings: StackSettings,
    provider: IdentityProviderProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ApiNodes]:
    env = {
        "TONGBAN_NODE_POLICIES": POLICIES.model_dump_json(),
        **provider.node_env(),
        # A rotation in the test is picked up within a second (30 s in production).
        "TONGBAN_NODE_IDENTITY_JWKS_MIN_REFRESH_S": "1",
    }
    tokens = Path(tmp_path_factory.mktemp("tokens"))
    async with api_nodes(
        stack, stack_settings, tokens, (A, B), port_base=PORT_BASE, env=env
    ) as started:
        yield started


def _token(provider: IdentityProviderProcess, who: tuple[str, str, str], **claims: Any) -> str:
    sub, name, id_number = who
    return provider.token(sub, name=name, id_number=id_number, **claims)


def _pdf(size: int) -> bytes:
    return b"%PDF-1.7\n" + os.urandom(size)


def _form(field: str, body: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
    parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
        (field, (None, json.dumps(body, ensure_ascii=False).encode(), "application/json"))
    ]
    for content in files.values():
        parts.append(("material", (hashlib.sha256(content).hexdigest()[:8], content, "x")))
    return {"files": parts, "data": {"material_names": list(files)}}


async def _status(client: httpx.AsyncClient, url: str, case_no: str, token: str) -> str | None:
    got = await client.get(f"{url}/cases/{case_no}", headers=auth(token))
    return got.json()["summary"]["status"] if got.status_code == 200 else None


async def test_online_case_from_sign_in_to_electronic_delivery(
    online: ApiNodes,
    provider: IdentityProviderProcess,
    stack: StackEndpoints,
    tmp_path: Path,
) -> None:
    a, b = online.urls[A], online.urls[B]
    alice, bob = _token(provider, ALICE), _token(provider, BOB)
    officer = online.token(B, Role.PROCESSING_OFFICER, person=("GD3003", "陈静"))
    watch_a, watch_b = online.token(A, Role.OPERATOR), online.token(B, Role.OPERATOR)
    id_card, household = _pdf(40_000), _pdf(20_000)
    application = {
        "item_code": ONLINE_ITEM,
        "processing_region": B,
        "phone": "13900000000",
        "delivery": "online",
    }
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        created = await client.post(
            f"{a}/applicant/cases",
            headers=auth(alice),
            **_form("application", application, {"居民身份证": id_card}),
        )
        assert created.status_code == 201, created.text
        assert created.json()["mode"] == "全程网办"
        case_no = created.json()["case_no"]
        mine = f"{a}/applicant/cases/{case_no}"

        # Only Alice sees it: Bob is told there is no such case, and lists none of it.
        assert (await client.get(mine, headers=auth(bob))).status_code == 404
        listed = await client.get(f"{a}/applicant/cases", headers=auth(bob))
        assert case_no not in [c["case_no"] for c in listed.json()]
        listed = await client.get(f"{a}/applicant/cases", headers=auth(alice))
        assert [c["case_no"] for c in listed.json()] == [case_no]
        withdrawn = await client.post(
            f"{mine}/withdrawal", json={"reason": "不是我的"}, headers=auth(bob)
        )
        assert withdrawn.status_code == 404

        # No window review: the case goes straight to 广东, whose officer accepts it.
        async def at_b() -> str | None:
            return await _status(client, b, case_no, watch_b)

        await eventually(at_b, until=lambda s: s == "received", what="the case at B")
        office = f"{b}/office/cases/{case_no}"
        step = await client.post(
            f"{office}/acceptance", json={"accept": True}, headers=auth(officer)
        )
        assert step.status_code == 200, step.text
        step = await client.post(
            f"{office}/supplement-request",
            json={"missing": ["户口簿"], "reason": "需户口簿首页"},
            headers=auth(officer),
        )
        assert step.status_code == 200, step.text

        # The 补正 request reaches Alice's case page; she answers it with a file.
        async def asked() -> dict[str, Any]:
            view: dict[str, Any] = (await client.get(mine, headers=auth(alice))).json()
            return view

        view = await eventually(
            asked, until=lambda v: v["supplement_asked"] is not None, what="B's 补正 at A"
        )
        assert "户口簿" in view["supplement_asked"]
        answered = await client.post(
            f"{mine}/supplement",
            headers=auth(alice),
            **_form("supplement", {}, {"户口簿": household}),
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["status"] == "processing"

        async def b_file() -> set[str]:
            got = await client.get(f"{b}/cases/{case_no}/file", headers=auth(officer))
            assert got.json()["mode"] == "全程网办"  # the officer sees how the case runs
            return {m["name"] for m in got.json()["materials"] if m["complete"]}

        await eventually(
            b_file, until=lambda names: {"居民身份证", "户口簿"} <= names, what="files at B"
        )
        step = await client.post(
            f"{office}/decision",
            json={"approve": True, "reason": "符合条件"},
            headers=auth(officer),
        )
        assert step.status_code == 200, step.text

        # Closed as delivered electronically in both regions, with the decision here to keep.
        async def delivered() -> dict[str, Any]:
            view: dict[str, Any] = (await client.get(mine, headers=auth(alice))).json()
            return view

        view = await eventually(
            delivered,
            until=lambda v: (
                v["closed"]
                and any(d["here"] and d["doc_type"] == "approval" for d in v["documents"])
            ),
            what="the case closed with its decision at A",
        )
        assert view["summary"]["status"] == "closed"
        assert view["outcome"] == "approved"
        steps = view["steps"]
        delivery = [s for s in steps if s["status"] == "result-delivered"]
        assert "电子送达" in delivery[0]["detail"]
        review = [s for s in steps if s["status"] == "formal-review-passed"]
        assert review[0]["detail"] == "全程网办：由办理地审查"
        digest = subject_digest(provider.issuer, ALICE[0])
        applicant_steps = [s for s in steps if s["actor"] and s["actor"]["kind"] == "applicant"]
        assert {s["actor"]["person_id"] for s in applicant_steps} == {digest}
        assert ALICE[1] not in json.dumps(steps, ensure_ascii=False)

        decision = next(d for d in view["documents"] if d["doc_type"] == "approval")
        pdf = await client.get(f"{mine}/documents/{decision['number']}", headers=auth(alice))
        assert pdf.status_code == 200
        assert hashlib.sha256(pdf.content).hexdigest() == decision["sha256"]
        refused = await client.get(f"{mine}/documents/{decision['number']}", headers=auth(bob))
        assert refused.status_code == 404
        path = tmp_path / "decision.pdf"
        path.write_bytes(pdf.content)
        checked = await tongban("documents", "verify", str(path), "--json")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert json.loads(checked.stdout)["valid"] is True

        await eventually(at_b, until=lambda s: s == "closed", what="B closed")

        async def at_a() -> str | None:
            return await _status(client, a, case_no, watch_a)

        assert await at_a() == "closed"

    # The row keeps the mode and the subject's digest, never the subject.
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        row = await conn.fetchrow(
            "SELECT mode, applicant_subject FROM cases WHERE case_no = $1", case_no
        )
        b_conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, B))
        try:
            b_mode = await b_conn.fetchval("SELECT mode FROM cases WHERE case_no = $1", case_no)
        finally:
            await b_conn.close()
    finally:
        await conn.close()
    assert row is not None
    assert (row["mode"], row["applicant_subject"]) == ("全程网办", digest)
    assert b_mode == "全程网办"


async def test_tokens_the_provider_did_not_issue_for_this_node_are_refused(
    online: ApiNodes, provider: IdentityProviderProcess
) -> None:
    a = online.urls[A]
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        for token, reason in (
            (_token(provider, ALICE, audience="tongban-440000-online"), "wrong_audience"),
            (_token(provider, ALICE, expires_in=-300), "expired"),
            ("eyJhbGciOiJub25lIn0.e30.", "algorithm_not_allowed"),
        ):
            got = await client.get(f"{a}/applicant/cases", headers=auth(token))
            assert got.status_code == 401, got.text
            assert got.json()["rule"] == reason
        # A staff token is no identity token either.
        clerk = online.token(A, Role.WINDOW_CLERK)
        got = await client.get(f"{a}/applicant/cases", headers=auth(clerk))
        assert got.status_code == 401
        # And an identity token opens no window step.
        got = await client.get(f"{a}/cases", headers=auth(_token(provider, ALICE)))
        assert got.status_code == 401

        # The provider rotates its key: the next token, under the new kid, is taken.
        # (A refresh is asked at most once a second: the first tries may come too soon.)
        provider.rotate(drop_old=True)
        rotated = _token(provider, ALICE)

        async def after_rotation() -> int:
            return (await client.get(f"{a}/applicant/cases", headers=auth(rotated))).status_code

        await eventually(after_rotation, until=lambda s: s == 200, what="the rotated key taken")


async def test_an_item_without_the_mode_is_refused_naming_the_rule(
    online: ApiNodes, provider: IdentityProviderProcess
) -> None:
    a = online.urls[A]
    clerk = online.token(A, Role.WINDOW_CLERK)
    window_application = {
        "item_code": ONLINE_ONLY,
        "processing_region": B,
        "applicant_name": "王五",
        "applicant_id_number": synthetic_id_number(serial="633"),
        "applicant_phone": "13700000000",
        "materials": [
            {"name": n, "sha256": "0" * 64, "ref": "window://materials/0"}
            for n in ("有效身份证件或社会保障卡", "跨省异地就医登记备案表", "个人承诺书")
        ],
    }
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        got = await client.post(f"{a}/window/cases", json=window_application, headers=auth(clerk))
        assert got.status_code == 422, got.text
        problem = got.json()
        assert problem["rule"] == "mode_not_allowed"
        assert (problem["item_code"], problem["mode"]) == (ONLINE_ONLY, "异地代收代办")
        assert problem["allowed_modes"] == ["全程网办"]

        joint = await client.post(
            f"{a}/window/cases",
            json={**window_application, "item_code": "GG-00102-000", "mode": "多地联办"},
            headers=auth(clerk),
        )
        assert joint.status_code == 422
        assert joint.json()["rule"] == "mode_not_allowed"

        # Online, an item that is not 全程网办 is refused the same way.
        not_online = await client.post(
            f"{a}/applicant/cases",
            json={"item_code": "GG-00102-000", "processing_region": B},
            headers=auth(_token(provider, ALICE)),
        )
        assert not_online.status_code == 422
        assert not_online.json()["rule"] == "mode_not_allowed"
        assert not_online.json()["allowed_modes"] == ["异地代收代办", "省内通办"]


CAROL = ("pseudonym-carol-55d0", "王五", synthetic_id_number(serial="644"))
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def _hidden(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


async def _console_sign_in(
    client: httpx.AsyncClient, node: str, provider: IdentityProviderProcess, sub: str
) -> None:
    """Through the pages as a browser goes: the node's sign-in page, the provider's, the
    provider's form_post back to the node's callback."""
    page = await client.get(f"{node}/console/applicant/sign-in")
    assert page.status_code == 200, page.text
    link = re.search(r'href="([^"]+/authorize\?[^"]+)"', page.text)
    assert link is not None
    at_provider = await client.get(html.unescape(link.group(1)))
    assert at_provider.status_code == 200
    fields = _hidden(at_provider.text)
    posted = await client.post(f"{provider.url}/authorize", data={**fields, "sub": sub})
    assert posted.status_code == 200, posted.text
    back = _hidden(posted.text)
    action = re.search(r'action="([^"]+)"', posted.text)
    assert action is not None
    assert set(back) == {"id_token", "state"}
    signed_in = await client.post(html.unescape(action.group(1)), data=back)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/console/applicant/"


async def test_the_applicant_s_pages_from_sign_in_to_a_withdrawn_case(
    online: ApiNodes, provider: IdentityProviderProcess
) -> None:
    a = online.urls[A]
    sub, name, id_number = CAROL
    provider.add_person(Person(sub=sub, name=name, id_number=id_number, phone_number="13600000000"))
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        # No session: the applicant's pages send to their own sign-in.
        first = await client.get(f"{a}/console/applicant/")
        assert first.status_code == 303
        assert first.headers["location"].startswith("/console/applicant/sign-in")
        await _console_sign_in(client, a, provider, sub)

        home = await client.get(f"{a}/console/applicant/")
        assert home.status_code == 200
        assert "王*" in home.text
        assert name not in home.text  # the header shows the masked name only
        form = await client.get(
            f"{a}/console/applicant/apply",
            params={"processing_region": B, "item_code": ONLINE_ITEM},
        )
        assert form.status_code == 200, form.text
        hidden = _hidden(form.text)
        data = {
            **{k: hidden[k] for k in ("csrf", "submission_key", "item_code", "processing_region")},
            "phone": "",
            "delivery": "online",
            "address": "",
            "material_names": "居民身份证",
        }
        files = {"material": ("id.pdf", _pdf(10_000), "application/pdf")}
        forged = await client.post(
            f"{a}/console/applicant/apply", data={**data, "csrf": "x" * 64}, files=files
        )
        assert forged.status_code == 403
        applied = await client.post(f"{a}/console/applicant/apply", data=data, files=files)
        assert applied.status_code == 303, applied.text
        case_url = applied.headers["location"]
        case_no = case_url.split("/cases/")[1].split("?")[0]
        page = await client.get(f"{a}{case_url}")
        assert page.status_code == 200
        assert case_no in page.text
        assert "全程网办" in page.text

        # This session opens no staff page, and the staff's console no applicant's case.
        staff = await client.get(f"{a}/console/window/", follow_redirects=False)
        assert staff.status_code == 303
        assert staff.headers["location"].startswith("/console/sign-in")
        async with httpx.AsyncClient(timeout=TIMEOUT) as stranger:
            other = await stranger.get(f"{a}/console/applicant/cases/{case_no}")
            assert other.status_code == 303

        withdrawn = await client.post(
            f"{a}/console/applicant/cases/{case_no}/withdrawal",
            data={"csrf": hidden["csrf"], "reason": "不再需要"},
        )
        assert withdrawn.status_code == 303, withdrawn.text
        token = _token(provider, CAROL)

        async def ended() -> dict[str, Any]:
            got = await client.get(f"{a}/applicant/cases/{case_no}", headers=auth(token))
            view: dict[str, Any] = got.json()
            return view

        view = await eventually(ended, until=lambda v: v["closed"], what="the withdrawal done")
        assert view["summary"]["status"] == "closed-withdrawn"
        actors = {s["actor"]["kind"] for s in view["steps"] if s["actor"]}
        assert "applicant" in actors


DAVE = ("pseudonym-dave-3e77", "孙七", synthetic_id_number(serial="666"))


async def test_a_result_by_post_goes_to_the_post_adapter_and_the_applicant_signs_for_it(
    online: ApiNodes, provider: IdentityProviderProcess, stack: StackEndpoints
) -> None:
    a, b = online.urls[A], online.urls[B]
    dave = _token(provider, DAVE)
    officer = online.token(B, Role.PROCESSING_OFFICER, person=("GD3004", "周明"))
    watch_b = online.token(B, Role.OPERATOR)
    application = {
        "item_code": ONLINE_ITEM,
        "processing_region": B,
        "phone": "13900000001",
        "delivery": "mail",
    }
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        no_address = await client.post(
            f"{a}/applicant/cases", headers=auth(dave), **_form("application", application, {})
        )
        assert no_address.status_code == 422
        assert no_address.json()["rule"] == "address_required"
        with_address = {**application, "address": "福州市鼓楼区测试路 1 号"}
        created = await client.post(
            f"{a}/applicant/cases",
            headers=auth(dave),
            **_form("application", with_address, {"居民身份证": _pdf(8_000)}),
        )
        assert created.status_code == 201, created.text
        case_no = created.json()["case_no"]
        mine = f"{a}/applicant/cases/{case_no}"

        async def at_b() -> str | None:
            return await _status(client, b, case_no, watch_b)

        await eventually(at_b, until=lambda s: s == "received", what="the case at B")
        office = f"{b}/office/cases/{case_no}"
        for path, body in (
            ("acceptance", {"accept": True}),
            ("decision", {"approve": True, "reason": "符合条件"}),
        ):
            step = await client.post(f"{office}/{path}", json=body, headers=auth(officer))
            assert step.status_code == 200, step.text

        async def view() -> dict[str, Any]:
            got: dict[str, Any] = (await client.get(mine, headers=auth(dave))).json()
            return got

        waiting = await eventually(
            view,
            until=lambda v: v["summary"]["status"] == "result-received",
            what="the result at A, posted",
        )
        assert waiting["closed"] is False
        conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
        try:

            async def posted() -> str | None:
                state: str | None = await conn.fetchval(
                    "SELECT state FROM effect_orders WHERE case_no = $1 AND effect = $2",
                    case_no,
                    "post-result",
                )
                return state

            assert await eventually(posted, until=lambda s: s == "done", what="post-result")
        finally:
            await conn.close()

        signed = await client.post(
            f"{mine}/delivery",
            json={"channel": "mail", "tracking_no": "SF1234567890"},
            headers=auth(dave),
        )
        assert signed.status_code == 200, signed.text
        assert signed.json()["status"] == "closed"
        steps = (await view())["steps"]
        delivered = [s for s in steps if s["status"] == "result-delivered"]
        assert delivered[0]["detail"] == "by mail SF1234567890"
        assert delivered[0]["actor"]["kind"] == "applicant"
        await eventually(at_b, until=lambda s: s == "closed", what="B closed")


async def test_a_joint_application_without_its_places_is_refused_naming_the_rule(
    online: ApiNodes,
) -> None:
    clerk = online.token(A, Role.WINDOW_CLERK)
    application = {
        "item_code": "GG-00201-002",  # 城乡居民基本养老保险关系转移接续: 多地联办 among its modes
        "processing_region": B,
        "applicant_name": "钱八",
        "applicant_id_number": synthetic_id_number(serial="677"),
        "applicant_phone": "13700000001",
        "mode": "多地联办",
        "materials": [
            {"name": n, "sha256": "0" * 64, "ref": "window://materials/0"}
            for n in ("居民身份证", "城乡居民基本养老保险关系转入申请表")
        ],
    }
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        got = await client.post(
            f"{online.urls[A]}/window/cases", json=application, headers=auth(clerk)
        )
    assert got.status_code == 422, got.text
    # A typed refusal, not a server error: 多地联办 binds its route's places (decision 0035).
    assert got.json()["rule"] == "route_place_unbound"
