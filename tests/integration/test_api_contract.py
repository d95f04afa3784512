"""The window API against real nodes: a whole case over HTTP, refusals, and who may do what."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.stack.settings import StackEndpoints, region_dsn
from regions.demo import synthetic_id_number
from regions.tokens import Role
from regions.window import material_ref
from tests.integration.api_nodes import API, CARRIED, ITEM, A, ApiPair, B, auth
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clerk(nodes: ApiPair) -> dict[str, str]:
    return auth(nodes.token(A, Role.WINDOW_CLERK))


@pytest.fixture(scope="module")
def officer(nodes: ApiPair) -> dict[str, str]:
    return auth(nodes.token(B, Role.PROCESSING_OFFICER))


def application(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "item_code": ITEM,
        "processing_region": B,
        "applicant_name": "王小明",
        "applicant_id_number": synthetic_id_number(serial="321"),
        "applicant_phone": "13800000000",
        "materials": [material_ref(name).model_dump() for name in CARRIED],
    }
    return {**body, **overrides}


async def case_rows(stack: StackEndpoints) -> int:
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM cases"))
    finally:
        await conn.close()


async def until(client: httpx.AsyncClient, path: str, headers: dict[str, str], status: str) -> Any:
    async def view() -> Any:
        response = await client.get(path, headers=headers)
        return response.json() if response.status_code == 200 else response.status_code

    def reached(body: Any) -> bool:
        return isinstance(body, dict) and body["summary"]["status"] == status

    return await eventually(view, until=reached, timeout=60, every=0.3, what=f"{path} {status}")


async def test_a_whole_case_over_http(
    nodes: ApiPair, clerk: dict[str, str], officer: dict[str, str]
) -> None:
    async with (
        httpx.AsyncClient(base_url=API[A], timeout=60) as a,
        httpx.AsyncClient(base_url=API[B], timeout=60) as b,
    ):
        submitted = await a.post("/window/cases", json=application(), headers=clerk)
        assert submitted.status_code == 201, submitted.text
        created = submitted.json()
        case_no = created["case_no"]
        assert (created["item_version"], created["required_materials"]) == (1, list(CARRIED))

        await until(a, f"/cases/{case_no}", clerk, "formal-review")
        early = await a.post(
            f"/window/cases/{case_no}/delivery", json={"channel": "window"}, headers=clerk
        )
        assert early.status_code == 409
        assert "not expected in status formal-review" in early.json()["detail"]

        review = await a.post(
            f"/window/cases/{case_no}/formal-review", json={"outcome": "pass"}, headers=clerk
        )
        assert review.status_code == 200, review.text
        await until(b, f"/cases/{case_no}", officer, "received")
        accepted = await b.post(
            f"/office/cases/{case_no}/acceptance", json={"accept": True}, headers=officer
        )
        assert accepted.status_code == 200, accepted.text
        await until(b, f"/cases/{case_no}", officer, "processing")
        decided = await b.post(
            f"/office/cases/{case_no}/decision",
            json={"approve": True, "reason": "符合条件"},
            headers=officer,
        )
        assert decided.status_code == 200, decided.text
        await until(a, f"/cases/{case_no}", clerk, "result-received")
        delivered = await a.post(
            f"/window/cases/{case_no}/delivery",
            json={"channel": "mail", "tracking_no": "SF0001"},
            headers=clerk,
        )
        assert delivered.status_code == 200, delivered.text
        view = await until(a, f"/cases/{case_no}", clerk, "closed")
        assert view["applicant_name_masked"] == "王**"
        assert "王小明" not in (await a.get(f"/cases/{case_no}", headers=clerk)).text
        assert view["outcome"] == "approved"
        assert [s["status"] for s in view["steps"]][-1] == "closed"

        listed = await a.get("/cases", params={"status": "closed", "limit": 500}, headers=clerk)
        assert listed.status_code == 422  # limit is capped
        listed = await a.get("/cases", params={"status": "closed", "limit": 200}, headers=clerk)
        assert case_no in [c["case_no"] for c in listed.json()["items"]]
        assert all(c["status"] == "closed" for c in listed.json()["items"])


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"applicant_id_number": "350102199001011239"}, "id_number_checksum"),
        ({"applicant_credit_code": "91350100MA2Y00000X"}, "credit_code_checksum"),
        ({"item_code": "GG-99999-000"}, "unknown_item"),
        ({"item_code": "QR-00101-004"}, "item_version_mismatch"),  # 440000 has its own v2
        ({"item_version": 2}, "item_version_mismatch"),
        ({"materials": [material_ref("居民身份证").model_dump()]}, "missing_materials"),
        ({"fee_fen": 100}, "fee_mismatch"),
        ({"processing_region": A}, "same_region"),
    ],
)
async def test_a_refused_application_names_the_rule_and_creates_nothing(
    nodes: ApiPair,
    clerk: dict[str, str],
    stack: StackEndpoints,
    overrides: dict[str, Any],
    rule: str,
) -> None:
    before = await case_rows(stack)
    async with httpx.AsyncClient(base_url=API[A], timeout=60) as a:
        response = await a.post("/window/cases", json=application(**overrides), headers=clerk)
    assert response.status_code == 422, response.text
    assert response.json()["rule"] == rule
    assert "350102199001011239" not in response.text  # the input is not echoed
    assert await case_rows(stack) == before


async def test_a_retried_submission_with_its_key_is_the_same_case(
    nodes: ApiPair, clerk: dict[str, str], stack: StackEndpoints
) -> None:
    key = {"Idempotency-Key": f"ticket-{time.time_ns()}", **clerk}
    async with httpx.AsyncClient(base_url=API[A], timeout=60) as a:
        first = await a.post("/window/cases", json=application(), headers=key)
        before = await case_rows(stack)
        retried = await asyncio.gather(
            *(a.post("/window/cases", json=application(), headers=key) for _ in range(3))
        )
        other_key = {**key, "Idempotency-Key": f"other-{time.time_ns()}"}
        other = await a.post("/window/cases", json=application(), headers=other_key)
        bad_key = await a.post(
            "/window/cases", json=application(), headers={**key, "Idempotency-Key": "short"}
        )
    assert first.status_code == 201, first.text
    case_no = first.json()["case_no"]
    assert [r.json()["case_no"] for r in retried] == [case_no] * 3
    assert other.status_code == 201
    assert other.json()["case_no"] != case_no
    assert bad_key.status_code == 422
    assert await case_rows(stack) == before + 1  # only the other key's case is new


async def test_unknown_case_is_404_and_probes_answer(nodes: ApiPair, clerk: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=API[A], timeout=60) as a:
        missing = await a.get("/cases/350000-20260101-ZZZZZZZZ", headers=clerk)
        assert (missing.status_code, missing.json()["rule"]) == (404, "unknown_case")
        step = await a.post(
            "/window/cases/350000-20260101-ZZZZZZZZ/withdrawal",
            json={"reason": "x"},
            headers=clerk,
        )
        assert step.status_code == 404
        assert (await a.get("/healthz")).status_code == 200
        ready = await a.get("/readyz")
        assert ready.json() == {
            "ready": True,
            "postgres": "ok",
            "temporal": "ok",
            "trust_directory": "ok",
        }
        assert "/window/cases" in (await a.get("/openapi.json")).json()["paths"]


async def test_tokens_role_and_region(
    nodes: ApiPair, clerk: dict[str, str], officer: dict[str, str]
) -> None:
    async with (
        httpx.AsyncClient(base_url=API[A], timeout=60) as a,
        httpx.AsyncClient(base_url=API[B], timeout=60) as b,
    ):
        body = application()
        assert (await a.post("/window/cases", json=body)).status_code == 401
        expired = auth(nodes.token(A, Role.WINDOW_CLERK, days=-1))
        assert (await a.post("/window/cases", json=body, headers=expired)).status_code == 401
        forged = auth("tb_350000_" + "A" * 43)
        assert (await a.get("/cases", headers=forged)).status_code == 401
        assert (await a.get("/cases", headers=auth("not-a-token"))).status_code == 401

        a_officer = auth(nodes.token(A, Role.PROCESSING_OFFICER))
        wrong_role = await a.post("/window/cases", json=body, headers=a_officer)
        assert wrong_role.status_code == 403
        operator = auth(nodes.token(A, Role.OPERATOR))
        assert (await a.post("/window/cases", json=body, headers=operator)).status_code == 403
        assert (await a.get("/cases", headers=operator)).status_code == 200
        # A 广东 clerk's token acts on nothing at the 福建 node.
        b_clerk = auth(nodes.token(B, Role.WINDOW_CLERK))
        assert (await a.post("/window/cases", json=body, headers=b_clerk)).status_code == 403
        assert (await a.get("/cases", headers=officer)).status_code == 403

        case_no = (await a.post("/window/cases", json=body, headers=clerk)).json()["case_no"]
        await until(a, f"/cases/{case_no}", clerk, "formal-review")
        # A's officer cannot take B-steps on a case A accepted: the case is not B's here.
        a_officer_step = await a.post(
            f"/office/cases/{case_no}/acceptance", json={"accept": True}, headers=a_officer
        )
        assert a_officer_step.status_code == 403
        await a.post(
            f"/window/cases/{case_no}/formal-review", json={"outcome": "pass"}, headers=clerk
        )
        await until(b, f"/cases/{case_no}", officer, "received")
        # At 广东's node, its own clerk still may not take the 福建 window's steps.
        not_theirs = await b.post(
            f"/window/cases/{case_no}/withdrawal", json={"reason": "x"}, headers=b_clerk
        )
        assert not_theirs.status_code == 403
        assert "belong to region 350000" in not_theirs.json()["detail"]
        refused = await b.post(
            f"/office/cases/{case_no}/acceptance",
            json={"accept": False, "reason": "材料不符"},
            headers=officer,
        )
        assert refused.status_code == 200
        await until(a, f"/cases/{case_no}", clerk, "closed-rejected")
