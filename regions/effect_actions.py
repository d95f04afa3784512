"""What changes an effect after its activity answered: a system's callback, an operator's retry
or resolution. Each commits the order's new state, then tells the case's workflow, which acts
on it (decision 0029). Telling twice is harmless: the workflow ignores news it has applied."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from activities.effects import settled_of
from effects import orders
from effects.callbacks import EffectCallback
from effects.orders import EffectOrder, OrderRefused
from events.models import accepting_region_of
from events.ratings import INVITATION_KEY
from regions.naming import intake_workflow_id, processing_workflow_id
from workflows.lifecycle.effects import EffectResolved, EffectRetried


class EffectNotFound(Exception):
    """No order of this region has that id or idempotency key."""


class CaseUnreachable(Exception):
    """The order changed, but its case's workflow could not be told (Temporal unavailable, or
    the workflow is gone); the action may be repeated."""


@dataclass(frozen=True)
class Told:
    order: EffectOrder
    changed: bool  # False: the order already had this answer (a repeated callback)


def workflow_id_of(region: str, case_no: str) -> str:
    mine = accepting_region_of(case_no) == region
    return (intake_workflow_id if mine else processing_workflow_id)(case_no)


async def _tell(client: Client, region: str, order: EffectOrder, signal: str, arg: object) -> None:
    if order.key == INVITATION_KEY:
        # 邀评 is ordered after the case's workflow ended and nothing waits on its answer: the
        # order holds it, and the ratings sweeper carries out an order an operator reopened.
        return
    handle = client.get_workflow_handle(workflow_id_of(region, order.case_no))
    try:
        await handle.signal(signal, arg)
    except RPCError as exc:
        raise CaseUnreachable(f"case {order.case_no}: {exc.message}") from exc


async def answer(
    pool: asyncpg.Pool, client: Client, region: str, order: EffectOrder, callback: EffectCallback
) -> Told:
    """A system's final answer to an effect it had answered `pending` (or not yet answered:
    the callback may overtake the activity's own record)."""
    async with pool.acquire() as conn, conn.transaction():
        current = await orders.by_id(conn, order.id, lock=True)
        if current is None:
            raise EffectNotFound(str(order.id))
        if current.state == callback.outcome:
            told = Told(current, changed=False)
        elif current.state in ("pending", "ordered"):
            settled = await orders.settle(
                conn,
                current,
                callback.outcome,
                reason=callback.reason,
                reference=callback.reference,
                outcome="callback",
            )
            told = Told(settled, changed=True)
        else:
            raise OrderRefused(
                f"effect {current.id} is {current.state}; callback says {callback.outcome}"
            )
    await _tell(client, region, told.order, "effect_answered", settled_of(told.order))
    return told


async def retry(
    pool: asyncpg.Pool, client: Client, region: str, order_id: int, by: str
) -> EffectOrder:
    async with pool.acquire() as conn, conn.transaction():
        order = await orders.by_id(conn, order_id, lock=True)
        if order is None:
            raise EffectNotFound(str(order_id))
        reopened = await orders.reopen(conn, order, by)
    await _tell(
        client,
        region,
        reopened,
        "effect_retried",
        EffectRetried(key=reopened.key, series=reopened.series, by=by),
    )
    return reopened


async def resolve(
    pool: asyncpg.Pool, client: Client, region: str, order_id: int, note: str, by: str
) -> EffectOrder:
    async with pool.acquire() as conn, conn.transaction():
        order = await orders.by_id(conn, order_id, lock=True)
        if order is None:
            raise EffectNotFound(str(order_id))
        resolved = await orders.resolve(conn, order, note, by)
    await _tell(
        client,
        region,
        resolved,
        "effect_resolved",
        EffectResolved(key=resolved.key, note=note, by=by),
    )
    return resolved
