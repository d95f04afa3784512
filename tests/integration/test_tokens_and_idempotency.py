"""Tokens and the window's Idempotency-Key against running nodes: a token revoked with
`tongban tokens revoke` is refused by the node from the next request on, without a restart; a
key belongs to one window (no two windows meet on it, whatever the region or the token), and a
retry with the same key but another application is refused with `idempotency_key_reused`."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from deploy.stack.settings import StackEndpoints, region_dsn
from regions.cli import app
from regions.demo import synthetic_id_number
from regions.tokens import Role, token_id
from regions.window import material_ref
from tests.integration.api_nodes import API, CARRIED, ITEM, A, ApiPair, B, auth

pytestmark = pytest.mark.integration


def clerk_at(nodes: ApiPair, region: str, window: str) -> dict[str, str]:
    token, _ = nodes.tokens.issue(
        region=region,
        role=Role.WINDOW_CLERK,
        window=window,
        valid_for=timedelta(days=1),
        now=datetime.now(UTC),
    )
    return auth(token)


def application(processing: str = B, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "item_code": ITEM,
        "processing_region": processing,
        "applicant_name": f"测试申请人{secrets.token_hex(2)}",
        "applicant_id_number": synthetic_id_number(serial=f"{secrets.randbelow(900):03d}"),
        "applicant_phone": "13800000000",
        "materials": [material_ref(name).model_dump() for name in CARRIED],
    }
    return {**body, **overrides}


def fresh_key() -> str:
    return f"ticket-{secrets.token_hex(8)}"


async def submit(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str], key: str
) -> httpx.Response:
    return await client.post(
        "/window/cases", json=body, headers={**headers, "Idempotency-Key": key}
    )


async def cases_with_key(stack: StackEndpoints, region: str, key: str) -> int:
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, region))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM cases WHERE submission_key = $1", key))
    finally:
        await conn.close()


async def test_a_revoked_token_is_refused_by_the_running_node(nodes: ApiPair) -> None:
    window = f"fz-revoke-{secrets.token_hex(3)}"
    leaked, colleague = clerk_at(nodes, A, window), clerk_at(nodes, A, window)
    directory = str(nodes.tokens.directory)
    runner = CliRunner()
    async with httpx.AsyncClient(base_url=API[A], timeout=60) as a:
        assert (await a.get("/cases", headers=leaked)).status_code == 200
        listed = runner.invoke(app, ["tokens", "list", "--region", A, "--directory", directory])
        leaked_id = token_id(leaked["Authorization"].removeprefix("Bearer "))
        assert f"{leaked_id}  {A}  window-clerk" in listed.stdout
        revoked = runner.invoke(app, ["tokens", "revoke", leaked_id, "--directory", directory])
        assert revoked.exit_code == 0, revoked.output

        refused = await a.get("/cases", headers=leaked)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "token revoked"
        step = await submit(a, application(), leaked, fresh_key())
        assert step.status_code == 401
        # Only that token: another one for the same window still works.
        assert (await a.get("/cases", headers=colleague)).status_code == 200
    listed = runner.invoke(app, ["tokens", "list", "--region", A, "--directory", directory])
    assert any(
        line.startswith(leaked_id) and "revoked" in line for line in listed.stdout.splitlines()
    )


async def test_one_key_at_many_windows_makes_one_case_per_window(
    nodes: ApiPair, stack: StackEndpoints
) -> None:
    key = fresh_key()
    suffix = secrets.token_hex(3)
    # Under 0006 the scope was "<window>:<key>" in one string: these two windows met on it.
    colon_window = clerk_at(nodes, A, f"fz:{suffix}")
    plain_window = clerk_at(nodes, A, "fz")
    async with (
        httpx.AsyncClient(base_url=API[A], timeout=60) as a,
        httpx.AsyncClient(base_url=API[B], timeout=60) as b,
    ):
        first = await submit(a, application(), colon_window, key)
        second = await submit(a, application(), plain_window, f"{suffix}:{key}")
        third = await submit(a, application(), clerk_at(nodes, A, f"fz-{suffix}"), key)
        # The same window name and key at the other region's window: that region's own case.
        elsewhere = await submit(b, application(A), clerk_at(nodes, B, f"fz:{suffix}"), key)
    answers = (first, second, third, elsewhere)
    assert [r.status_code for r in answers] == [201] * 4, [r.text for r in answers]
    case_nos = [r.json()["case_no"] for r in answers]
    assert len(set(case_nos)) == 4
    assert case_nos[3].startswith(f"{B}-")
    assert await cases_with_key(stack, A, key) == 2
    assert await cases_with_key(stack, B, key) == 1


async def test_a_retry_is_the_same_case_only_with_the_same_application(
    nodes: ApiPair, stack: StackEndpoints
) -> None:
    window = f"fz-retry-{secrets.token_hex(3)}"
    key = fresh_key()
    body = application()
    async with httpx.AsyncClient(base_url=API[A], timeout=60) as a:
        first = await submit(a, body, clerk_at(nodes, A, window), key)
        assert first.status_code == 201, first.text
        case_no = first.json()["case_no"]

        changes: list[dict[str, Any]] = [
            {"applicant_phone": "13900000000"},
            # 999: a serial application() never picks.
            {"applicant_id_number": synthetic_id_number(serial="999")},
            {"materials": [material_ref(n, b"other scan").model_dump() for n in CARRIED]},
        ]
        for change in changes:
            reused = await submit(a, {**body, **change}, clerk_at(nodes, A, window), key)
            assert reused.status_code == 422, reused.text
            problem = reused.json()
            assert problem["rule"] == "idempotency_key_reused"
            assert case_no in problem["detail"]
            assert body["applicant_id_number"] not in reused.text

        # A token reissued to the same window, the body's keys in another order: same case.
        reordered = dict(reversed(list(body.items())))
        retried = await submit(a, reordered, clerk_at(nodes, A, window), key)
        assert retried.status_code == 201, retried.text
        assert retried.json()["case_no"] == case_no
    assert await cases_with_key(stack, A, key) == 1


async def test_racing_requests_with_one_key_and_two_applications(
    nodes: ApiPair, stack: StackEndpoints
) -> None:
    clerk = clerk_at(nodes, A, f"fz-race-{secrets.token_hex(3)}")
    key = fresh_key()
    one, other = application(), application()
    async with httpx.AsyncClient(base_url=API[A], timeout=60) as a:
        answers = await asyncio.gather(
            *(submit(a, body, clerk, key) for body in (one, other, one, other, one, other))
        )
    created = [(r.json()["case_no"], i % 2) for i, r in enumerate(answers) if r.status_code == 201]
    refused = [i % 2 for i, r in enumerate(answers) if r.status_code == 422]
    assert len(created) + len(refused) == 6, [r.text for r in answers]
    # Whichever application came first owns the key; every request with the other is refused.
    assert len({case_no for case_no, _ in created}) == 1
    winner = created[0][1]
    assert {body for _, body in created} == {winner}
    assert refused == [1 - winner] * 3
    assert await cases_with_key(stack, A, key) == 1
