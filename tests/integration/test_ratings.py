"""好差评 on the real stack (issue 21, decision 0039), two nodes (福建 A, 广东 B) with the
applicants' identity provider:

- at A's window the clerk hands the applicant a one-time code; the applicant rates the window's
  service (收件) with it, once; the clerk's own token rates nothing;
- online, the applicant rates B's processing (办结) 非常不满意: the rating travels to B as a
  signed, sealed event, B's officer records 回访 and 整改, and the answer reaches the applicant
  at A;
- a 不满意 of A's service misses its 回访 deadline and escalates; an operator's 申诉复核 sets it
  aside with a recorded reason, which the applicant is told;
- a concluded case nobody rated gets one 邀评 SMS through the effects machinery, a rated one
  none.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from regions.beijing_time import BEIJING
from regions.demo import synthetic_id_number
from regions.policies import CasePolicies
from regions.rating_rules import RatingRules
from regions.tokens import Role
from regions.window import material_ref
from tests.integration.api_nodes import ApiNodes, api_nodes, auth
from tests.integration.exchange_support import tongban
from tests.integration.lifecycle import MANUAL
from tests.support.console import sign_in
from tests.support.identity_provider import IdentityProviderProcess, spawn_identity_provider
from tests.waiting import eventually
from workflows.models import CaseTimings

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
PORT_BASE = 18800
AUDIENCE = "tongban-350000-online"
ONLINE_ITEM = "GG-00105-000"  # 开具户籍类证明: 全程网办, delivered online
WINDOW_ITEM = "GG-00102-000"
CARRIED = ("居民身份证", "社会保障卡申领登记表")
TIMEOUT = httpx.Timeout(60.0)
POLICIES = CasePolicies(
    default=MANUAL,
    items={ONLINE_ITEM: MANUAL, WINDOW_ITEM: MANUAL},
    timings=CaseTimings(
        answer_timeout=timedelta(seconds=120),
        delivery_wait=timedelta(seconds=120),
        working_day=timedelta(seconds=60),
    ),
)
# A day of the rules lasts 20 s: 回访 is due 20 s after a bad rating, 整改 60 s; a concluded
# case nobody rated is invited 20 s after it closed, until 10 minutes after (so a rated case is
# still in the window when the test looks, and the stack's older cases are left alone).
RULES = RatingRules(
    revisit_working_days=1,
    rectify_working_days=3,
    invite_after_days=1,
    invite_within_days=30,
    working_day=timedelta(seconds=20),
)
ALICE = ("pseudonym-rating-alice", "赵敏", synthetic_id_number(serial="644"))


@pytest.fixture(scope="module")
def provider() -> Iterator[IdentityProviderProcess]:
    with spawn_identity_provider(AUDIENCE) as idp:
        yield idp


@pytest.fixture(scope="module")
async def nodes(
    stack: StackEndpoints,
    stack_settings: StackSettings,
    provider: IdentityProviderProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ApiNodes]:
    env = {
        "TONGBAN_NODE_POLICIES": POLICIES.model_dump_json(),
        "TONGBAN_NODE_RATINGS": RULES.model_dump_json(),
        **provider.node_env(),
    }
    tokens = Path(tmp_path_factory.mktemp("tokens"))
    async with api_nodes(stack, stack_settings, tokens, (A, B), port_base=PORT_BASE, env=env) as n:
        yield n


@pytest.fixture(scope="module")
async def closed_online_case(nodes: ApiNodes, provider: IdentityProviderProcess) -> str:
    """Alice's 全程网办 case, approved by B's officer and closed (delivered online) at A."""
    return await _closed_online_case(nodes, provider, check_early_rating=True)


async def _closed_online_case(
    nodes: ApiNodes,
    provider: IdentityProviderProcess,
    *,
    check_early_rating: bool = False,
    rate_reception: bool = False,
) -> str:
    """A 全程网办 case of Alice's, approved at B and closed at A; `rate_reception`: she rates
    A's 收件 (满意) before it is decided."""
    a, b = nodes.urls[A], nodes.urls[B]
    alice = _alice(provider)
    officer = nodes.token(B, Role.PROCESSING_OFFICER, person=("GD4001", "黄磊"))
    body = {"item_code": ONLINE_ITEM, "processing_region": B, "phone": "13900000001"}
    pdf = b"%PDF-1.7\n" + os.urandom(20_000)
    files = [
        ("application", (None, json.dumps(body).encode(), "application/json")),
        ("material", ("id.pdf", pdf, "application/pdf")),
    ]
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        created = await client.post(
            f"{a}/applicant/cases",
            headers=auth(alice),
            files=files,
            data={"material_names": ["居民身份证"]},
        )
        assert created.status_code == 201, created.text
        case_no: str = created.json()["case_no"]

        if check_early_rating:
            # 办结 cannot be rated before the case is concluded.
            early = await client.post(
                f"{a}/applicant/cases/{case_no}/ratings",
                json={"step": "concluded", "level": 5},
                headers=auth(alice),
            )
            assert (early.status_code, early.json()["rule"]) == (409, "step_not_reached")
        if rate_reception:
            rated = await client.post(
                f"{a}/applicant/cases/{case_no}/ratings",
                json={"step": "received", "level": 4},
                headers=auth(alice),
            )
            assert rated.status_code == 201, rated.text

        office = f"{b}/office/cases/{case_no}"

        async def accepted() -> int:
            got = await client.post(
                f"{office}/acceptance", json={"accept": True}, headers=auth(officer)
            )
            return got.status_code

        await eventually(accepted, until=lambda s: s == 200, what="B accepts the case")
        decided = await client.post(
            f"{office}/decision",
            json={"approve": True, "reason": "符合条件"},
            headers=auth(officer),
        )
        assert decided.status_code == 200, decided.text

        async def at_a() -> str:
            got = await client.get(f"{a}/applicant/cases/{case_no}", headers=auth(alice))
            status: str = got.json()["summary"]["status"]
            return status

        await eventually(at_a, until=lambda s: s == "closed", what="the case closed at A")
    return case_no


def _alice(provider: IdentityProviderProcess) -> str:
    sub, name, id_number = ALICE
    return provider.token(sub, name=name, id_number=id_number)


async def _rows(stack: StackEndpoints, region: str, case_no: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, region))
    try:
        rows = await conn.fetch(
            "SELECT *, row_to_json(ratings)::text AS whole FROM ratings WHERE case_no = $1"
            " ORDER BY step",
            case_no,
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def test_a_window_rating_is_the_applicants_with_the_receipts_code(
    nodes: ApiNodes, provider: IdentityProviderProcess, stack: StackEndpoints
) -> None:
    a = nodes.urls[A]
    clerk = nodes.token(A, Role.WINDOW_CLERK, person=("FZ2001", "林芳"), window="fz-rating-01")
    application = {
        "item_code": WINDOW_ITEM,
        "processing_region": B,
        "applicant_name": "钱七",
        "applicant_id_number": synthetic_id_number(serial=f"{secrets.randbelow(900):03d}"),
        "applicant_phone": "13800000002",
        "materials": [material_ref(name).model_dump() for name in CARRIED],
    }
    comment = "窗口人员耐心细致，电话 13800000002"
    async with httpx.AsyncClient(base_url=a, timeout=TIMEOUT) as client:
        created = await client.post("/window/cases", json=application, headers=auth(clerk))
        assert created.status_code == 201, created.text
        case_no = created.json()["case_no"]
        issued = await client.post(
            f"/window/cases/{case_no}/rating-codes", json={"step": "received"}, headers=auth(clerk)
        )
        assert issued.status_code == 201, issued.text
        code = issued.json()["code"]
        rating = {"case_no": case_no, "code": code, "level": 5, "comment": comment}

        # The clerk cannot fill it in: not with the code and their token, nor as an applicant.
        by_clerk = await client.post("/ratings/window", json=rating, headers=auth(clerk))
        assert (by_clerk.status_code, by_clerk.json()["rule"]) == (403, "staff_cannot_rate")
        online = await client.post(
            f"/applicant/cases/{case_no}/ratings",
            json={"step": "received", "level": 5},
            headers=auth(clerk),
        )
        assert online.status_code == 401
        # An online indicator is not a window's: refused, and the code is not spent by it.
        wrong = await client.post(
            "/ratings/window", json={**rating, "reasons": ["platform-usability"]}
        )
        assert (wrong.status_code, wrong.json()["rule"]) == (422, "unknown_reason")
        assert comment not in wrong.text

        taken = await client.post(
            "/ratings/window", json={**rating, "reasons": ["service-attitude"]}
        )
        assert taken.status_code == 201, taken.text
        got = taken.json()
        assert (got["level_label"], got["step_label"]) == ("非常满意", "收件")
        assert (got["responsible_region"], got["side"], got["follow_up"]) == (A, "A", False)

        # Once per step: the spent code, and a new code for the rated step, are refused.
        again = await client.post("/ratings/window", json=rating)
        assert (again.status_code, again.json()["rule"]) == (403, "rating_code_invalid")
        reissue = await client.post(
            f"/window/cases/{case_no}/rating-codes", json={"step": "received"}, headers=auth(clerk)
        )
        assert (reissue.status_code, reissue.json()["rule"]) == (409, "already_rated")

    [row] = await _rows(stack, A, case_no)
    assert (row["level"], row["channel"], row["window_name"]) == (5, "window", "fz-rating-01")
    assert row["reasons"] == ["service-attitude"]
    assert comment not in row["whole"]  # kept sealed for A
    assert json.loads(row["whole"])["comment_sealed"]["recipient"] == A


async def test_wrong_codes_for_a_case_hold_it_up_until_the_clerk_issues_a_new_one(
    nodes: ApiNodes, stack: StackEndpoints
) -> None:
    a = nodes.urls[A]
    clerk = nodes.token(A, Role.WINDOW_CLERK, person=("FZ2002", "郑洁"), window="fz-rating-02")
    application = {
        "item_code": WINDOW_ITEM,
        "processing_region": B,
        "applicant_name": "孙八",
        "applicant_id_number": synthetic_id_number(serial=f"{secrets.randbelow(900):03d}"),
        "applicant_phone": "13800000003",
        "materials": [material_ref(name).model_dump() for name in CARRIED],
    }
    async with httpx.AsyncClient(base_url=a, timeout=TIMEOUT) as client:
        created = await client.post("/window/cases", json=application, headers=auth(clerk))
        assert created.status_code == 201, created.text
        case_no = created.json()["case_no"]

        async def issued() -> str:
            got = await client.post(
                f"/window/cases/{case_no}/rating-codes",
                json={"step": "received"},
                headers=auth(clerk),
            )
            assert got.status_code == 201, got.text
            code: str = got.json()["code"]
            return code

        code = await issued()
        guess = "AAAAA-AAAAA" if code != "AAAAA-AAAAA" else "BBBBB-BBBBB"
        rating = {"case_no": case_no, "code": guess, "level": 5}
        for _ in range(5):
            wrong = await client.post("/ratings/window", json=rating)
            assert (wrong.status_code, wrong.json()["rule"]) == (403, "rating_code_invalid")
        # The sixth try is held up, even with the right code.
        held = await client.post("/ratings/window", json={**rating, "code": code})
        assert (held.status_code, held.json()["rule"]) == (429, "rating_code_tries")
        assert "评价码输入错误次数过多" in held.json()["detail"]

        # The clerk hands the applicant a new receipt: its code rates.
        taken = await client.post("/ratings/window", json={**rating, "code": await issued()})
        assert taken.status_code == 201, taken.text
    [row] = await _rows(stack, A, case_no)
    assert (row["level"], row["window_name"]) == (5, "fz-rating-02")


async def test_an_online_rating_of_bs_processing_goes_to_b_which_answers_it(
    nodes: ApiNodes,
    provider: IdentityProviderProcess,
    stack: StackEndpoints,
    closed_online_case: str,
) -> None:
    a, b = nodes.urls[A], nodes.urls[B]
    case_no, alice = closed_online_case, _alice(provider)
    officer = nodes.token(B, Role.PROCESSING_OFFICER, person=("GD4002", "周华"))
    clerk = nodes.token(A, Role.WINDOW_CLERK)
    comment, answer = "审批太慢，等了很久", "已优化审批流程，承诺时限内办结；感谢监督。"
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        rated = await client.post(
            f"{a}/applicant/cases/{case_no}/ratings",
            json={"step": "concluded", "level": 1, "reasons": ["efficiency"], "comment": comment},
            headers=auth(alice),
        )
        assert rated.status_code == 201, rated.text
        got = rated.json()
        assert (got["responsible_region"], got["side"], got["follow_up"]) == (B, "B", True)
        assert got["level_label"] == "非常不满意"
        rating_id = got["rating_id"]
        twice = await client.post(
            f"{a}/applicant/cases/{case_no}/ratings",
            json={"step": "concluded", "level": 5},
            headers=auth(alice),
        )
        assert (twice.status_code, twice.json()["rule"]) == (409, "already_rated")

        # B keeps it, sealed for B, and runs the follow-up: 回访 then 整改, by B's officer.
        async def kept_at_b() -> list[dict[str, Any]]:
            return await _rows(stack, B, case_no)

        [at_b] = await eventually(kept_at_b, until=bool, what="the rating at B")
        assert (at_b["responsible_region"], at_b["origin_region"]) == (B, A)
        assert comment not in at_b["whole"]
        assert json.loads(at_b["whole"])["comment_sealed"]["recipient"] == B
        # A's copy is not A's to follow up.
        not_a = await client.post(
            f"{a}/ratings/{rating_id}/revisit", json={"note": "x"}, headers=auth(clerk)
        )
        assert (not_a.status_code, not_a.json()["rule"]) == (404, "unknown_rating")

        async def revisited() -> int:
            got = await client.post(
                f"{b}/ratings/{rating_id}/revisit",
                json={"note": "已电话回访申请人，了解情况"},
                headers=auth(officer),
            )
            return got.status_code

        await eventually(revisited, until=lambda s: s == 200, what="回访 at B")
        fixed = await client.post(
            f"{b}/ratings/{rating_id}/rectification",
            json={"note": "审批环节并联办理", "answer": answer},
            headers=auth(officer),
        )
        assert fixed.status_code == 200, fixed.text

        # The answer comes back to the applicant at A.
        async def mine() -> list[dict[str, Any]]:
            got = await client.get(f"{a}/applicant/cases/{case_no}/ratings", headers=auth(alice))
            listed: list[dict[str, Any]] = got.json()
            return listed

        ratings = await eventually(
            mine,
            until=lambda rs: any(r["answer"] for r in rs),
            what="the answer at A",
        )
        [concluded] = [r for r in ratings if r["step"] == "concluded"]
        assert (concluded["answer"], concluded["answered_on_time"]) == (answer, True)

    [at_b] = await _rows(stack, B, case_no)
    assert None not in (at_b["revisited_at"], at_b["rectified_at"], at_b["answered_at"])
    assert at_b["escalations"] == []
    assert answer not in at_b["whole"]

    # B's report counts it on B's side (办理地), as a 差评 answered on time.
    today = datetime.now(BEIJING).date().isoformat()
    shown = await tongban(
        "ratings", "report", "--region", B, "--from", today, "--to", today, "--json"
    )
    assert shown.returncode == 0, shown.stderr
    counted = json.loads(shown.stdout)
    assert counted["by_side"]["办理地"]["非常不满意"] >= 1
    assert counted["bad"]["answered_on_time"] >= 1
    assert "收件地" not in counted["by_side"]  # A's service is A's to answer for
    assert comment not in shown.stdout

    # And its daily export for the provincial system lists it, without the comment.
    exported = await tongban("ratings", "export", "--region", B, "--day", today)
    assert exported.returncode == 0, exported.stderr
    [entry] = [r for r in json.loads(exported.stdout)["ratings"] if r["rating_id"] == rating_id]
    assert (entry["level_label"], entry["side"], entry["bad"]) == ("非常不满意", "B", True)
    assert entry["follow_up"]["answered_on_time"] is True
    assert comment not in exported.stdout
    assert answer not in exported.stdout

    # The console's 好差评 page at B counts it the same way.
    operator = nodes.token(B, Role.OPERATOR, person=("GD9001", "督查 陈"))
    async with httpx.AsyncClient(base_url=b, timeout=TIMEOUT) as browser:
        assert (await sign_in(browser, operator)).status_code == 303
        page = await browser.get(f"/console/operators/ratings?from={today}&to={today}")
    assert page.status_code == 200, page.text
    assert "好差评" in page.text
    assert comment not in page.text
    assert re.search(r"<th scope=\"row\">办理地</th>(<td>\d+</td>){4}<td>[1-9]", page.text)


async def test_a_missed_revisit_escalates_and_an_appeal_sets_the_rating_aside(
    nodes: ApiNodes,
    provider: IdentityProviderProcess,
    stack: StackEndpoints,
    closed_online_case: str,
) -> None:
    a = nodes.urls[A]
    case_no, alice = closed_online_case, _alice(provider)
    operator = nodes.token(A, Role.OPERATOR, person=("FJ9001", "督查 王"))
    clerk = nodes.token(A, Role.WINDOW_CLERK)
    reason = "经复核，申请人误评（误将办理地的时限计入收件）"
    async with httpx.AsyncClient(base_url=a, timeout=TIMEOUT) as client:
        rated = await client.post(
            f"/applicant/cases/{case_no}/ratings",
            json={"step": "received", "level": 2, "reasons": ["platform-usability"]},
            headers=auth(alice),
        )
        assert rated.status_code == 201, rated.text
        got = rated.json()
        assert (got["responsible_region"], got["side"], got["follow_up"]) == (A, "A", True)
        rating_id = got["rating_id"]

        # Nobody records 回访 within its working day: the follow-up escalates and goes on.
        async def escalated() -> list[str]:
            [row] = [r for r in await _rows(stack, A, case_no) if r["step"] == "received"]
            escalations: list[str] = row["escalations"]
            return escalations

        assert await eventually(escalated, what="回访 escalated", until=bool, timeout=120) == [
            "revisit"
        ]

        refused = await client.post(
            f"/ratings/{rating_id}/appeal-review", json={"reason": reason}, headers=auth(clerk)
        )
        assert (refused.status_code, refused.json()["rule"]) == (403, "reviewer_only")
        upheld = await client.post(
            f"/ratings/{rating_id}/appeal-review", json={"reason": reason}, headers=auth(operator)
        )
        assert upheld.status_code == 200, upheld.text
        again = await client.post(
            f"/ratings/{rating_id}/appeal-review", json={"reason": reason}, headers=auth(operator)
        )
        assert (again.status_code, again.json()["rule"]) == (409, "already_set_aside")

        listed = await client.get(f"/applicant/cases/{case_no}/ratings", headers=auth(alice))
        [received] = [r for r in listed.json() if r["step"] == "received"]
        assert (received["set_aside"], received["answer"]) == (True, reason)

    [row] = [r for r in await _rows(stack, A, case_no) if r["step"] == "received"]
    assert row["set_aside_at"] is not None
    assert row["set_aside_by"].startswith("督查 王")
    assert reason not in row["whole"]  # the recorded reason is sealed


async def test_a_bad_rating_whose_follow_up_never_started_is_picked_up_by_the_sweeper(
    nodes: ApiNodes, stack: StackEndpoints
) -> None:
    """As if the node died between committing a 差评 and starting its follow-up."""
    case_no = f"{A}-20261201-{secrets.token_hex(4).upper()}"
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        await conn.execute(
            "INSERT INTO ratings (rating_id, case_no, step, level, channel, window_name,"
            " item_code, origin_region, processing_region, responsible_region, side, rated_at)"
            " VALUES ($1, $2, 'received', 2, 'online', '网上办事', $3, $4, $5, $4, 'A',"
            " now() - interval '1 minute')",
            str(uuid.uuid4()),
            case_no,
            ONLINE_ITEM,
            A,
            B,
        )
    finally:
        await conn.close()

    async def opened() -> list[dict[str, Any]]:
        return [r for r in await _rows(stack, A, case_no) if r["revisit_due"] is not None]

    [row] = await eventually(opened, until=bool, what="the follow-up opened", timeout=120)
    assert row["revisit_due"] > row["rated_at"]


async def _invitations(stack: StackEndpoints, case_no: str) -> list[dict[str, Any]]:
    """The case's 邀评 orders at A, each with how many times its system was called."""
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        rows = await conn.fetch(
            "SELECT o.*, (SELECT count(*) FROM effect_attempts t WHERE t.order_id = o.id)"
            " AS calls FROM effect_orders o WHERE o.case_no = $1 AND o.key = 'rating-invitation'",
            case_no,
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def test_a_concluded_case_nobody_rated_is_invited_once_and_a_rated_one_not_at_all(
    nodes: ApiNodes, provider: IdentityProviderProcess, stack: StackEndpoints
) -> None:
    rated = await _closed_online_case(nodes, provider, rate_reception=True)
    unrated = await _closed_online_case(nodes, provider)

    def sent(orders: list[dict[str, Any]]) -> bool:
        return bool(orders) and orders[0]["state"] == "done"

    async def invited() -> list[dict[str, Any]]:
        return await _invitations(stack, unrated)

    [order] = await eventually(invited, until=sent, what="邀评 of the unrated case", timeout=180)
    assert (order["effect"], order["adapter"]) == ("notify-applicant", "log")
    assert "好差评" in order["detail"]

    # Later sweeps leave it alone: a case concluded after that invitation was sent gets its own
    # (so the sweeper has run since), and the first is still one order, its system called once.
    later = await _closed_online_case(nodes, provider)

    async def later_invited() -> list[dict[str, Any]]:
        return await _invitations(stack, later)

    await eventually(later_invited, until=sent, what="邀评 of the later case", timeout=180)
    [again] = await _invitations(stack, unrated)
    assert (again["id"], again["series"], again["attempts"], again["calls"]) == (
        order["id"],
        1,
        1,
        1,
    )
    # The case Alice rated (收件, before it closed) concluded first and is never invited.
    assert await _invitations(stack, rated) == []

    # The report says they were sent.
    today = datetime.now(BEIJING).date().isoformat()
    shown = await tongban(
        "ratings", "report", "--region", A, "--from", today, "--to", today, "--json"
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["invitations"]["by_state"]["done"] >= 2
