"""A day of 代收 between 福建 (350000, collects) and 广东 (440000, decides) on the real stack: an
approved case, a denied one (refunded) and a withdrawn one (cancelled, refunded). Both regions'
ledgers hold what the exchanged events moved, `tongban settlement report` shows the figures
from each region's own ledger, and `--reconcile` agrees until a row is taken out of one
region's database, then names exactly that case and exits 1 (decision 0030)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.stores.settlement import BEIJING
from operators.settlement_cli import app
from regions.local import ensure_local_keys, local_node_settings
from tests.integration.lifecycle import (
    POLICY_ENV,
    T_B_DECIDES_FEE,
    T_DENY,
    T_FEE,
    a_closed,
    a_reaches,
    b_closed,
    intake,
    material,
    submit,
)
from tests.integration.pair import ProvincePair, start_pair
from workflows.models import Withdrawal

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
PAIR = f"{A}:{B}"


@pytest.fixture(scope="module")
async def pair(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[ProvincePair]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    async with start_pair(stack, stack_settings, A, B, env=POLICY_ENV) as started:
        yield started


async def _cli(*args: str) -> Result:
    # The command runs its own event loop: off this one's thread.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def _report(day: str, region: str) -> dict[str, Any]:
    found = await _cli("report", "--pair", PAIR, "--day", day, "--region", region, "--json")
    assert found.exit_code == 0, found.output
    report: dict[str, Any] = json.loads(found.output)
    return report


async def _reconcile(day: str) -> tuple[int, dict[str, tuple[str, ...]]]:
    found = await _cli("report", "--pair", PAIR, "--day", day, "--reconcile", "--json")
    assert found.exit_code in (0, 1), found.output
    body = json.loads(found.output)
    return found.exit_code, {d["case_no"]: tuple(d["problems"]) for d in body["differences"]}


async def _decided_cases(pair: ProvincePair) -> dict[str, str]:
    origin = local_node_settings(A, StackSettings())
    approved = await submit(pair, origin, T_FEE, fee_fen=2500, materials=(material("身份证"),))
    denied = await submit(pair, origin, T_DENY, fee_fen=500)
    withdrawn = await submit(pair, origin, T_B_DECIDES_FEE, fee_fen=800)
    await a_reaches(pair, withdrawn, "processing")
    await intake(pair, withdrawn).execute_update("withdraw", Withdrawal(reason="不再需要"))
    for case_no in (approved, denied, withdrawn):
        await a_closed(pair, case_no)
        await b_closed(pair, case_no)
    return {"approved": approved, "denied": denied, "withdrawn": withdrawn}


async def test_a_day_of_fees_reported_and_reconciled(
    pair: ProvincePair, stack: StackEndpoints
) -> None:
    first_day = datetime.now(BEIJING).date().isoformat()
    cases = await _decided_cases(pair)
    # Cases run for seconds; should they straddle midnight in Beijing, both days are read.
    days = sorted({first_day, datetime.now(BEIJING).date().isoformat()})
    ours = set(cases.values())

    reports = {region: [await _report(day, region) for day in days] for region in (A, B)}
    lines = {
        region: sorted(
            (line["case_no"], line["kind"], line["amount_fen"], line["event_id"])
            for found in reports[region]
            for line in found["lines"]
            if line["case_no"] in ours
        )
        for region in (A, B)
    }
    assert lines[A] == lines[B]  # the same entries, event for event, in both ledgers
    assert sorted((c, k, f) for c, k, f, _ in lines[A]) == sorted(
        [
            (cases["approved"], "collected", 2500),
            (cases["denied"], "collected", 500),
            (cases["denied"], "refunded", -500),
            (cases["withdrawn"], "collected", 800),
            (cases["withdrawn"], "refunded", -800),
        ]
    )
    for found in reports[A] + reports[B]:
        # The day's figures are its lines' (other tests' cases of the day included).
        collected = sum(x["amount_fen"] for x in found["lines"] if x["kind"] == "collected")
        refunded = sum(x["amount_fen"] for x in found["lines"] if x["kind"] == "refunded")
        assert (found["collected_fen"], found["refunded_fen"]) == (collected, refunded)
        assert found["net_fen"] == collected + refunded
    ours_by_line = [x for found in reports[A] for x in found["lines"] if x["case_no"] in ours]
    assert sum(x["amount_fen"] for x in ours_by_line) == 2500  # what A owes B for these three
    assert {x["amount_yuan"] for x in ours_by_line} == {
        "25.00",
        "5.00",
        "-5.00",
        "8.00",
        "-8.00",
    }

    shown = await _cli("report", "--pair", PAIR, "--day", days[-1], "--region", B)
    assert shown.exit_code == 0, shown.output
    assert "账本：440000 广东省" in shown.output
    assert "应结净额（元）" in shown.output

    before: dict[str, dict[str, tuple[str, ...]]] = {}
    for day in days:
        _, before[day] = await _reconcile(day)
        assert not ours & set(before[day]), before[day]

    # One region's database loses the denied case's refund (as by a faulty restore).
    dsn_b = region_dsn(stack.postgres_dsn, B)
    removed = await _take_out(dsn_b, cases["denied"], "refunded")
    try:
        day = removed["business_day"].isoformat()
        code, after = await _reconcile(day)
        assert code == 1
        assert set(after) - set(before[day]) == {cases["denied"]}
        assert after[cases["denied"]] == (f"退费 -5.00 元仅见于 {A} 的账本，{B} 的账本没有",)
        text = await _cli("report", "--pair", PAIR, "--day", day, "--reconcile")
        assert text.exit_code == 1
        assert f"{cases['denied']}  退费 -5.00 元仅见于" in text.output
    finally:
        await _put_back(dsn_b, removed)
    assert (await _reconcile(day))[1] == before[day]


async def _take_out(dsn: str, case_no: str, kind: str) -> dict[str, Any]:
    """Delete a ledger row past its append-only trigger (as the database owner can)."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            row = await conn.fetchrow(
                "DELETE FROM settlement_ledger WHERE case_no = $1 AND kind = $2 RETURNING *",
                case_no,
                kind,
            )
    finally:
        await conn.close()
    assert row is not None
    return dict(row)


async def _put_back(dsn: str, row: dict[str, Any]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        columns = list(row)
        await conn.execute(
            f"INSERT INTO settlement_ledger ({', '.join(columns)})"
            f" VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})",
            *row.values(),
        )
    finally:
        await conn.close()
