"""差评整改 across 国庆 on the real stack (issue 21, decision 0039): a node on the real holiday
calendar (no scaled clock) follows up a 非常不满意 given on 2026-09-30, the last working day
before the National Day holiday. Its deadlines count working days from the rating, so both are
long past today: 回访 (1 working day) falls on 10-08, the first working day after the holiday,
and 整改 (3 working days) on Saturday 10-10, a 调休 working day (10-01 … 10-07 skipped; weekdays
alone would give 10-05). The 回访 escalates, is recorded late, then the missed 整改 escalates
and the answer counts as late.

The rating is written into A's table as the rating API keeps it, as if the node had stopped
before starting its follow-up: the node's ratings sweeper starts it (the way a rating from
before a holiday reaches the follow-up without waiting for one). A node of its own (ports
18820+), since the follow-up's clock is a node setting and test_ratings.py scales it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from regions.rating_rules import RatingRules
from regions.tokens import Role
from tests.integration.api_nodes import ApiNodes, api_nodes, auth
from tests.waiting import eventually
from workflows.deadlines import CST

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
PORT_BASE = 18820
# On the holiday calendar; no 邀评 from this node (it would invite the stack's other cases).
RULES = RatingRules(revisit_working_days=1, rectify_working_days=3, invite_after_days=None)
RATED_AT = datetime(2026, 9, 30, 10, 0, tzinfo=CST)
REVISIT_DUE = datetime.combine(date(2026, 10, 8), time(23, 59, 59), CST)
RECTIFY_DUE = datetime.combine(date(2026, 10, 10), time(23, 59, 59), CST)


@pytest.fixture(scope="module")
async def nodes(
    stack: StackEndpoints,
    stack_settings: StackSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ApiNodes]:
    env = {"TONGBAN_NODE_RATINGS": RULES.model_dump_json()}
    tokens = Path(tmp_path_factory.mktemp("tokens"))
    async with api_nodes(stack, stack_settings, tokens, (A,), port_base=PORT_BASE, env=env) as n:
        yield n


async def _row(stack: StackEndpoints, rating_id: str) -> dict[str, Any]:
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        row = await conn.fetchrow("SELECT * FROM ratings WHERE rating_id = $1", rating_id)
    finally:
        await conn.close()
    assert row is not None
    return dict(row)


async def test_a_missed_rectification_escalates_on_a_deadline_past_the_national_day_holiday(
    nodes: ApiNodes, stack: StackEndpoints
) -> None:
    rating_id = str(uuid.uuid4())
    case_no = f"{A}-20260930-{secrets.token_hex(4).upper()}"
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, A))
    try:
        await conn.execute(
            "INSERT INTO ratings (rating_id, case_no, step, level, channel, window_name,"
            " item_code, origin_region, processing_region, responsible_region, side, rated_at)"
            " VALUES ($1, $2, 'received', 1, 'online', '网上办事', 'GG-00105-000', $3, $4, $3,"
            " 'A', $5)",
            rating_id,
            case_no,
            A,
            B,
            RATED_AT,
        )
    finally:
        await conn.close()

    async def escalated(stages: list[str]) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            return await _row(stack, rating_id)

        return await eventually(
            probe,
            until=lambda row: row["escalations"] == stages,
            what=f"{stages} escalated",
            timeout=120,
        )

    # Nobody could have called back over the holiday: 回访, due 10-08, escalates at once.
    row = await escalated(["revisit"])
    assert (row["revisit_due"], row["rectify_due"]) == (REVISIT_DUE, RECTIFY_DUE)

    clerk = nodes.token(A, Role.WINDOW_CLERK, person=("FZ2003", "陈静"))
    async with httpx.AsyncClient(base_url=nodes.urls[A], timeout=60.0) as client:
        revisited = await client.post(
            f"/ratings/{rating_id}/revisit",
            json={"note": "节后电话回访申请人"},
            headers=auth(clerk),
        )
        assert revisited.status_code == 200, revisited.text

        # 整改 was due on the 调休 Saturday 10-10 and is not done: it escalates too.
        row = await escalated(["revisit", "rectify"])
        assert row["rectified_at"] is None

        fixed = await client.post(
            f"/ratings/{rating_id}/rectification",
            json={"note": "补发办事指南并致歉", "answer": "已整改，感谢您的监督。"},
            headers=auth(clerk),
        )
        assert fixed.status_code == 200, fixed.text

    async def answered() -> dict[str, Any]:
        return await _row(stack, rating_id)

    row = await eventually(
        answered, until=lambda r: r["answered_at"] is not None, what="the answer kept"
    )
    assert row["answered_on_time"] is False
    assert row["rectified_at"] > RECTIFY_DUE
