"""Effects reach a real system (issue 17): 福建's node sends its effects as signed webhooks to an
HTTP receiver started here as its own process, which keeps its own records. Each scenario sets
the receiver's behaviour, runs one case to its end and reads what the receiver really did.

Expected effects per outcome are those the intake lifecycle orders (docs/lifecycle.md):
approved: take-materials, issue-receipt, charge-fee, one notification (result ready);
denied: the same, then refund-fee, void-receipt, return-materials (its one notification says so).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from regions.local import ensure_local_keys, local_node_settings
from regions.naming import intake_workflow_id, processing_workflow_id
from tests.integration.exchange_support import credentials
from tests.integration.lifecycle import (
    POLICY_ENV,
    T_DENY,
    T_FEE,
    a_closed,
    a_until,
    material,
    submit,
)
from tests.integration.pair import ProvincePair, start_pair
from tests.support.effect_receiver import (
    Behaviour,
    ReceiverConfig,
    ReceiverProcess,
    spawn_receiver,
)
from tests.waiting import eventually
from workflows.models import CaseProgress

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
SECRET = "effects-test-callback-secret"
# The intake's effects go to the service hall's systems; B's stay on the log adapter.
HALL_EFFECTS = (
    "take-materials",
    "issue-receipt",
    "charge-fee",
    "refund-fee",
    "void-receipt",
    "notify-applicant",
    "escalate-effect",
)
APPROVED = Counter(["take-materials", "issue-receipt", "charge-fee", "notify-applicant"])
DENIED = APPROVED + Counter(["refund-fee", "void-receipt", "return-materials"])
POST_ANSWER_HOURS = 8 / 3600  # the post account's callback is due 8 s after its pending answer


def _routing(url: str) -> dict[str, Any]:
    hall = {"kind": "webhook", "url": f"{url}/hall", "timeout_s": 4, "max_attempts": 3}
    post = {
        "kind": "webhook",
        "url": f"{url}/post",
        "timeout_s": 4,
        "max_attempts": 3,
        "answer_hours": POST_ANSWER_HOURS,
        "callback_secret": SECRET,
    }
    return {
        "adapters": {
            "log": {"kind": "log"},
            "hall": {**hall, "callback_secret": SECRET},
            "post": post,
        },
        "routes": {**{e: "hall" for e in HALL_EFFECTS}, "return-materials": "post"},
        "default": "log",
    }


@pytest.fixture(scope="module")
def receiver(
    stack_settings: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReceiverProcess]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    signer = credentials(stack_settings, A).signer(datetime.now(UTC))
    store = Path(tmp_path_factory.mktemp("receiver")) / "records.db"
    with spawn_receiver(
        store, public_key=signer.private_key.public_key(), callback_secret=SECRET.encode()
    ) as started:
        yield started


@pytest.fixture(scope="module")
async def pair(
    stack: StackEndpoints, stack_settings: StackSettings, receiver: ReceiverProcess
) -> AsyncIterator[ProvincePair]:
    env = {**POLICY_ENV, "TONGBAN_NODE_EFFECTS": json.dumps(_routing(receiver.url))}
    async with start_pair(stack, stack_settings, A, B, env=env) as started:
        yield started


def _dsn(stack: StackEndpoints, region: str) -> str:
    return region_dsn(stack.postgres_dsn, region)


async def _orders(stack: StackEndpoints, case_no: str) -> dict[str, asyncpg.Record]:
    conn = await asyncpg.connect(_dsn(stack, A))
    try:
        rows = await conn.fetch("SELECT * FROM effect_orders WHERE case_no = $1", case_no)
    finally:
        await conn.close()
    return {r["key"]: r for r in rows}


def _done(receiver: ReceiverProcess, case_no: str) -> Counter[str]:
    return Counter(e.effect for e in receiver.effects_for(case_no))


def _each_key_done_once(receiver: ReceiverProcess, case_no: str) -> None:
    keys = Counter(e.idempotency_key for e in receiver.effects_for(case_no))
    assert keys, f"the receiver did nothing for {case_no}"
    assert max(keys.values()) == 1, f"an effect done twice: {keys}"


def _cli(*args: str, group: str = "effects") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regions.cli", group, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _open_effect(pair: ProvincePair, case_no: str, key: str, state: str) -> CaseProgress:
    """A's progress once the lifecycle is closed and effect `key` keeps the case open in
    `state`."""

    def ready(p: CaseProgress) -> bool:
        held = {w.key: w.state for w in p.effects_open}
        return p.status == "closed-rejected" and held.get(key) == state and not p.closed

    return await a_until(pair, case_no, ready, timeout=90, what=f"{key} {state}, case open")


async def test_flaky_and_slow_systems_do_each_effect_once(
    pair: ProvincePair, receiver: ReceiverProcess, stack: StackEndpoints
) -> None:
    """The payment platform fails twice (503), the SMS gateway answers after the node's
    timeout once: the case still closes and the receiver did each effect exactly once."""
    await receiver.set_config(
        ReceiverConfig(
            effects={
                "charge-fee": Behaviour(fail_first=2),
                "notify-applicant": Behaviour(slow_s=6, slow_attempts=1),
            }
        )
    )
    origin = local_node_settings(A, StackSettings())
    case_no = await submit(pair, origin, T_FEE, fee_fen=2500, materials=(material("身份证"),))
    await a_closed(pair, case_no, timeout=120)
    assert _done(receiver, case_no) == APPROVED
    _each_key_done_once(receiver, case_no)
    fee = [a for a in receiver.records() if a.case_no == case_no and a.effect == "charge-fee"]
    assert [a.status_code for a in fee] == [503, 503, 200]
    assert all(a.verified for a in receiver.records() if a.case_no == case_no)
    orders = await _orders(stack, case_no)
    assert {o["state"] for o in orders.values()} == {"done"}
    assert orders["charge-fee"]["attempts"] == 3
    notice = next(
        a for a in receiver.records() if a.case_no == case_no and a.effect == "notify-applicant"
    )
    assert notice.has_phone
    assert case_no in notice.notice
    assert "办理结果已出" in notice.notice
    # A's effects went to the hall's systems, each through the effect activity; B's stay on
    # the log adapter, which reaches no system, so B's commits carried them out themselves
    # (decision 0044): done orders, and not one effect activity in B's history.
    assert await _effect_activities(pair, A, intake_workflow_id(case_no)) > 0
    assert await _effect_activities(pair, B, processing_workflow_id(case_no)) == 0
    conn = await asyncpg.connect(_dsn(stack, B))
    try:
        at_b = await conn.fetch(
            "SELECT adapter, state FROM effect_orders WHERE case_no = $1", case_no
        )
    finally:
        await conn.close()
    assert at_b, "B ordered no effect"
    assert {(r["adapter"], r["state"]) for r in at_b} == {("log", "done")}


async def _effect_activities(pair: ProvincePair, region: str, workflow_id: str) -> int:
    handle = pair.clients[region].get_workflow_handle(workflow_id)
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    return scheduled.count("carry_out_effects")


async def test_a_pending_refund_is_done_by_its_callback(
    pair: ProvincePair, receiver: ReceiverProcess, stack: StackEndpoints
) -> None:
    """Denied: the refund is answered 202 and called back (signed) a second later; the post
    account answers the return of materials the same way. The case closes once both are in."""
    later = Behaviour(answer="pending", callback_after_s=1)
    await receiver.set_config(
        ReceiverConfig(effects={"refund-fee": later, "return-materials": later})
    )
    origin = local_node_settings(A, StackSettings())
    case_no = await submit(pair, origin, T_DENY, fee_fen=500)
    await a_closed(pair, case_no, timeout=120)
    assert _done(receiver, case_no) == DENIED
    _each_key_done_once(receiver, case_no)
    orders = await _orders(stack, case_no)
    assert orders["refund-fee"]["state"] == "done"
    assert orders["refund-fee"]["amount_fen"] == 500
    assert orders["refund-fee"]["reference"]  # the payment platform's own id


async def test_a_refused_refund_escalates_and_keeps_the_case_open(
    pair: ProvincePair, receiver: ReceiverProcess, stack: StackEndpoints
) -> None:
    """The payment platform refuses the refund: the supervision system is told, the case stays
    open and listed until an operator records the refund done by other means."""
    await receiver.set_config(ReceiverConfig(effects={"refund-fee": Behaviour(answer="refuse")}))
    origin = local_node_settings(A, StackSettings())
    case_no = await submit(pair, origin, T_DENY, fee_fen=500)
    progress = await _open_effect(pair, case_no, "refund-fee", "refused")
    assert any("被拒绝" in s.detail for s in progress.steps)
    await eventually(
        lambda: _async(_done(receiver, case_no)["escalate-effect"]),
        what="the escalation reached the supervision system",
    )
    listed = _cli("list", "--region", A, "--case", case_no, "--failed", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["key"], row["adapter"], row["state"]) == ("refund-fee", "hall", "refused")
    assert "账户已注销" in row["reason"]
    shown = _cli("show", case_no, group="case")
    assert "未完成的执行事项" in shown.stdout, shown.stdout + shown.stderr
    assert "refund-fee 被拒绝" in shown.stdout
    resolved = _cli(
        "resolve", str(row["id"]), "--region", A, "--by", "op-17", "--note", "窗口现金退还"
    )
    assert resolved.returncode == 0, resolved.stderr
    closed = await a_closed(pair, case_no, timeout=60)
    assert closed.closed
    assert any("窗口现金退还" in s.detail for s in closed.steps)


async def test_a_dead_letter_is_listed_and_retried_by_command(
    pair: ProvincePair, receiver: ReceiverProcess, stack: StackEndpoints
) -> None:
    """The SMS gateway is down for longer than the adapter's three attempts: a dead letter,
    escalated; once it is back, `tongban effects retry` sends it under the same key."""
    await receiver.set_config(
        ReceiverConfig(effects={"notify-applicant": Behaviour(fail_first=1000)})
    )
    origin = local_node_settings(A, StackSettings())
    case_no = await submit(pair, origin, T_FEE, fee_fen=2500, materials=(material("身份证"),))

    async def dead() -> asyncpg.Record | None:
        order = (await _orders(stack, case_no)).get("notify-applicant:1")
        return order if order is not None and order["state"] == "dead" else None

    order = await eventually(dead, what="the notification a dead letter", timeout=90)
    assert order["attempts"] == 3
    listed = json.loads(_cli("list", "--region", A, "--failed", "--json").stdout)
    assert any(r["id"] == order["id"] and r["state"] == "dead" for r in listed)
    await receiver.set_config(ReceiverConfig())  # the gateway is back
    retried = _cli("retry", str(order["id"]), "--region", A, "--by", "op-17")
    assert retried.returncode == 0, retried.stderr
    await a_closed(pair, case_no, timeout=60)
    (notice,) = [e for e in receiver.effects_for(case_no) if e.effect == "notify-applicant"]
    assert notice.idempotency_key == f"{case_no}/notify-applicant:1/1"  # the same series
    _each_key_done_once(receiver, case_no)


async def test_a_callback_that_never_comes_escalates(
    pair: ProvincePair, receiver: ReceiverProcess, stack: StackEndpoints
) -> None:
    """The post account says it will return the materials and then says nothing past its due
    time: escalated; when its callback finally comes, the case closes."""
    await receiver.set_config(
        ReceiverConfig(effects={"return-materials": Behaviour(answer="pending")})
    )
    origin = local_node_settings(A, StackSettings())
    case_no = await submit(pair, origin, T_DENY, fee_fen=500)
    progress = await _open_effect(pair, case_no, "return-materials", "late")
    await eventually(
        lambda: _async(_done(receiver, case_no)["escalate-effect"]),
        what="the late answer escalated",
        timeout=60,
    )
    key = f"{case_no}/return-materials/1"
    await receiver.complete(key)
    await a_closed(pair, case_no, timeout=60)
    assert (await _orders(stack, case_no))["return-materials"]["state"] == "done"
    assert progress.effects_open


async def test_kill_minus_nine_mid_call_does_the_effect_once(
    pair: ProvincePair, receiver: ReceiverProcess, stack: StackEndpoints
) -> None:
    """The node is killed while the payment platform is still answering the fee: the restarted
    node calls again with the same key, and the platform charged once."""
    await receiver.set_config(
        ReceiverConfig(effects={"charge-fee": Behaviour(slow_s=3, slow_attempts=1)})
    )
    origin = local_node_settings(A, StackSettings())
    case_no = await submit(pair, origin, T_FEE, fee_fen=2500, materials=(material("身份证"),))

    async def in_call() -> bool:
        return any(a.case_no == case_no and a.effect == "charge-fee" for a in receiver.records())

    await eventually(in_call, what="the fee call in flight", every=0.05)
    await pair.restart(A)
    await a_closed(pair, case_no, timeout=120)
    fee = [a for a in receiver.records() if a.case_no == case_no and a.effect == "charge-fee"]
    assert len(fee) >= 2  # called again after the kill
    assert len({a.idempotency_key for a in fee}) == 1
    assert _done(receiver, case_no) == APPROVED
    _each_key_done_once(receiver, case_no)


async def _async(value: int) -> int | None:
    return value or None
