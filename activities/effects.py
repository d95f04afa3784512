"""The effect activity: a case's ordered effects carried out by the region's systems.

The step's commit wrote each effect's order (effects/orders.py) in the step's transaction; this
activity calls the order's adapter once per attempt, records every call and answer, and
returns what became of each effect to the workflow, which acts on it (decision 0029).

Temporal retries the activity with backoff while an adapter is unavailable; the orders make the
retry safe: an effect already answered is not called again, and one called but not recorded
(the worker died mid-call) is called again with the same idempotency key, which the system
answers with its first answer. After the adapter's `max_attempts` calls the effect is a dead
letter: the activity answers `dead` instead of failing, so the workflow can escalate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import asyncpg
from pydantic import SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.applicant import open_applicant
from activities.contracts import EffectCall, EffectSettled
from effects import orders
from effects.adapters import AdapterUnavailable, Answer, EffectAdapter, EffectRequest
from effects.notices import NEEDS_ADDRESS, NEEDS_PHONE, applicant_notice
from effects.orders import EffectOrder
from effects.settings import EffectRouting
from events.credentials import RegionCredentials
from events.pg import Conn
from events.stores.postgres import PostgresCaseStore

log = logging.getLogger(__name__)

# The failure type of an attempt that left some effect to try again.
EFFECT_UNAVAILABLE = "EffectUnavailable"
HEARTBEAT_EVERY_S = 2.0


class EffectActivities:
    def __init__(
        self,
        pool: asyncpg.Pool,
        credentials: RegionCredentials,
        routing: EffectRouting,
        adapters: Mapping[str, EffectAdapter],
        *,
        callback_url: str = "",
    ) -> None:
        self._pool = pool
        self._credentials = credentials
        self._routing = routing
        self._adapters = adapters
        self._callback_url = callback_url

    @activity.defn
    async def carry_out_effects(self, call: EffectCall) -> tuple[EffectSettled, ...]:
        beat = asyncio.create_task(_heartbeat())
        try:
            answers = await asyncio.gather(*(self._one(call.case_no, key) for key in call.keys))
        finally:
            beat.cancel()
        again = [key for key, settled in zip(call.keys, answers, strict=True) if settled is None]
        if again:
            # Recorded as attempts; Temporal tries again after its backoff.
            raise ApplicationError(
                f"case {call.case_no}: {len(again)} effects to try again", type=EFFECT_UNAVAILABLE
            )
        return tuple(a for a in answers if a is not None)

    def inline(self, adapter: str) -> bool:
        found = self._adapters.get(adapter)
        return found is not None and found.inline

    async def settle_inline(self, case_no: str, keys: tuple[str, ...]) -> tuple[EffectSettled, ...]:
        """Carry out, inside the step's commit activity, the ordered effects whose adapter
        reaches no outside system; what became of them. The rest is the effect activity's."""
        answers = await asyncio.gather(*(self._one(case_no, key, inline_only=True) for key in keys))
        return tuple(a for a in answers if a is not None)

    async def _one(
        self, case_no: str, key: str, *, inline_only: bool = False
    ) -> EffectSettled | None:
        """What became of one effect; None: the system was unavailable, try again (or, with
        `inline_only`, its adapter reaches an outside system: the effect activity calls it)."""
        async with self._pool.acquire() as conn:
            order = await orders.get(conn, case_no, key)
            if order is None:
                # The commit writes the order before the workflow asks: a bug, not a retry.
                raise ApplicationError(f"no order {case_no}/{key}", non_retryable=True)
            if order.state != "ordered":
                return settled_of(order)
            if inline_only and not self.inline(order.adapter):
                return None
            request = await self._request(conn, order)
        adapter = self._adapters.get(order.adapter)
        try:
            if adapter is None:
                raise AdapterUnavailable(f"adapter {order.adapter} is not configured")
            answer: Answer | AdapterUnavailable = await adapter.carry_out(request)
        except AdapterUnavailable as exc:
            answer = exc
        return await self._record(order, answer)

    async def _record(
        self, order: EffectOrder, answer: Answer | AdapterUnavailable
    ) -> EffectSettled | None:
        async with self._pool.acquire() as conn, conn.transaction():
            current = await orders.get(conn, order.case_no, order.key, lock=True)
            if current is None or current.series != order.series:
                return None  # an operator retried meanwhile: the new series is called next
            if current.state != "ordered":
                return settled_of(current)  # a callback or an operator got there first
            if isinstance(answer, AdapterUnavailable):
                target = self._routing.adapters.get(order.adapter)
                limit = target.max_attempts if target else 1
                dead = current.attempts + 1 >= limit
                settled = await orders.settle(
                    conn,
                    current,
                    "dead" if dead else "ordered",
                    reason=answer.reason,
                    counted=True,
                    outcome="dead" if dead else "unavailable",
                )
                log.warning(
                    "effect %s of %s unavailable (%s, attempt %d)%s",
                    order.key,
                    order.case_no,
                    answer.reason,
                    settled.attempts,
                    ": dead letter" if dead else "",
                )
                return settled_of(settled) if dead else None
            due = None
            if answer.outcome == "pending":
                target = self._routing.adapters.get(order.adapter)
                hours = target.answer_hours if target else 48.0
                due = datetime.now(UTC) + timedelta(hours=hours)
            settled = await orders.settle(
                conn,
                current,
                answer.outcome,
                reason=answer.reason,
                reference=answer.reference,
                answer_due=due,
                counted=True,
            )
            return settled_of(settled)

    async def _request(self, conn: Conn, order: EffectOrder) -> EffectRequest:
        directory = self._credentials.directory()
        entry = directory.region(self._credentials.region)
        notice = applicant_notice(
            entry.name if entry else self._credentials.region,
            order.case_no,
            order.effect,
            order.amount_fen,
            order.detail,
        )
        phone = address = None
        if notice and order.effect in NEEDS_PHONE:
            case = await PostgresCaseStore(conn).get(order.case_no)
            if case is not None:
                applicant = open_applicant(self._credentials, order.case_no, case.applicant_sealed)
                phone = SecretStr(applicant.phone)
                if order.effect in NEEDS_ADDRESS:
                    address = SecretStr(applicant.address)
        return EffectRequest(
            idempotency_key=order.idempotency_key,
            region=self._credentials.region,
            case_no=order.case_no,
            effect=order.effect,
            key=order.key,
            series=order.series,
            amount_fen=order.amount_fen,
            detail=order.detail if not notice else "",
            notice=notice,
            phone=phone,
            address=address,
            callback_url=self._callback_url,
        )


def settled_of(order: EffectOrder) -> EffectSettled:
    """The workflow's news of an order as it stands (resolved by hand counts as done)."""
    outcome = "done" if order.state == "resolved" else order.state
    return EffectSettled(
        key=order.key,
        series=order.series,
        outcome=outcome,
        reason=order.reason,
        reference=order.reference,
        answer_due=order.answer_due,
    )


async def _heartbeat() -> None:
    """A worker killed mid-call is noticed within the heartbeat timeout, not the call's."""
    while True:
        # Asleep first: a call that answers at once (most do) costs no heartbeat RPC; the
        # heartbeat timeout runs from the activity's start, so a death is noticed as soon.
        await asyncio.sleep(HEARTBEAT_EVERY_S)
        activity.heartbeat()
