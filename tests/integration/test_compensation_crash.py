"""A worker killed in the middle of compensation resumes without doing any step twice."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from regions.local import ensure_local_keys, local_node_settings
from tests.integration.lifecycle import (
    POLICY_ENV,
    T_SLOW_COMPENSATION,
    a_closed,
    a_reaches,
    journal,
    submit,
)
from tests.integration.pair import ProvincePair, start_pair
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B = "350000", "440000"


@pytest.fixture(scope="module")
async def pair(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[ProvincePair]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    async with start_pair(stack, stack_settings, A, B, env=POLICY_ENV) as started:
        yield started


async def test_killing_the_node_mid_compensation_refunds_and_notifies_once(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    dsn_a = region_dsn(stack.postgres_dsn, A)
    origin = local_node_settings(A, stack_settings, stack)
    # Denied by B; A waits 2 s before each compensation step, which leaves time to kill it.
    case_no = await submit(pair, origin, T_SLOW_COMPENSATION, fee_fen=1500)
    await a_reaches(pair, case_no, "compensating", timeout=60)

    async def effects() -> list[str]:
        return [effect for effect, _ in await journal(dsn_a, case_no)]

    done = await eventually(
        effects, until=lambda d: "refund-fee" in d, every=0.1, what="the fee refunded"
    )
    assert "return-materials" not in done  # genuinely in the middle of compensating

    await pair.restart(A)
    closed = await a_closed(pair, case_no, timeout=90)

    assert closed.status == "closed-rejected"
    assert await journal(dsn_a, case_no) == [
        ("take-materials", 0),
        ("issue-receipt", 0),
        ("charge-fee", 1500),
        ("refund-fee", 1500),
        ("void-receipt", 0),
        ("return-materials", 0),
        ("notify-applicant", 0),
    ]
