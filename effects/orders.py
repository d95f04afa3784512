"""Effect orders in the region's database: written by a step's commit, carried out by the
effect activity, answered by callbacks, listed and retried by operators (decision 0029).

An order is unique per case and key. Its state moves ordered → done | refused | pending |
dead; pending → done | refused (callback); refused | dead → ordered (operator retry: a refused
effect starts a new attempt series, a dead one keeps its series, since the system may have
done it after all and must see the same idempotency key); any open state → resolved (an
operator did it by other means). Every call and answer is an `effect_attempts` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from events.pg import Conn

State = Literal["ordered", "pending", "done", "refused", "dead", "resolved"]
OPEN_STATES: tuple[State, ...] = ("ordered", "pending", "refused", "dead")
FAILED_STATES: tuple[State, ...] = ("refused", "dead")


class OrderRefused(Exception):
    """An operator's action or a callback that does not fit the order's state."""


@dataclass(frozen=True)
class EffectOrder:
    id: int
    case_no: str
    key: str
    effect: str
    amount_fen: int
    detail: str
    adapter: str
    state: State
    series: int
    attempts: int
    reference: str
    reason: str
    answer_due: datetime | None
    ordered_at: datetime
    updated_at: datetime

    @property
    def idempotency_key(self) -> str:
        """What the system dedupes on: the case, the effect's key and the attempt series."""
        return f"{self.case_no}/{self.key}/{self.series}"


_COLUMNS = (
    "id, case_no, key, effect, amount_fen, detail, adapter, state, series, attempts,"
    " reference, reason, answer_due, ordered_at, updated_at"
)


def _order(row: object) -> EffectOrder:
    return EffectOrder(**dict(row))  # type: ignore[call-overload]


async def place(
    conn: Conn, *, case_no: str, key: str, effect: str, amount_fen: int, detail: str, adapter: str
) -> bool:
    """The order, once per case and key (a retried commit finds its own); True when new."""
    placed = await conn.fetchval(
        "INSERT INTO effect_orders (case_no, key, effect, amount_fen, detail, adapter)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_no, key) DO NOTHING RETURNING true",
        case_no,
        key,
        effect,
        amount_fen,
        detail,
        adapter,
    )
    return bool(placed)


async def get(conn: Conn, case_no: str, key: str, *, lock: bool = False) -> EffectOrder | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM effect_orders WHERE case_no = $1 AND key = $2"
        + (" FOR UPDATE" if lock else ""),
        case_no,
        key,
    )
    return None if row is None else _order(row)


async def by_id(conn: Conn, order_id: int, *, lock: bool = False) -> EffectOrder | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM effect_orders WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        order_id,
    )
    return None if row is None else _order(row)


async def by_idempotency_key(conn: Conn, idempotency_key: str) -> EffectOrder | None:
    """The order a callback answers: `<case_no>/<key>/<series>` (keys hold no '/')."""
    case_no, _, rest = idempotency_key.partition("/")
    key, _, series = rest.rpartition("/")
    if not (case_no and key and series.isdigit()):
        return None
    order = await get(conn, case_no, key)  # `answer` locks it in its own transaction
    return order if order is not None and order.series == int(series) else None


async def listing(
    conn: Conn, *, case_no: str | None = None, failed: bool = False, limit: int = 200
) -> list[EffectOrder]:
    clauses: list[str] = []
    args: list[object] = []
    if case_no:
        args.append(case_no)
        clauses.append(f"case_no = ${len(args)}")
    if failed:
        args.append(list(FAILED_STATES))
        clauses.append(f"state = ANY(${len(args)}::text[])")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM effect_orders{where} ORDER BY id DESC LIMIT ${len(args)}", *args
    )
    return [_order(r) for r in rows]


async def note(
    conn: Conn, order: EffectOrder, outcome: str, reason: str = "", actor: str = ""
) -> None:
    await conn.execute(
        "INSERT INTO effect_attempts (order_id, series, attempt, outcome, reason, actor)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        order.id,
        order.series,
        order.attempts,
        outcome,
        reason[:500],
        actor,
    )


async def attempts_of(conn: Conn, order_id: int) -> list[dict[str, object]]:
    rows = await conn.fetch(
        "SELECT series, attempt, at, outcome, reason, actor FROM effect_attempts"
        " WHERE order_id = $1 ORDER BY at, attempt",
        order_id,
    )
    return [dict(r) for r in rows]


async def settle(
    conn: Conn,
    order: EffectOrder,
    state: State,
    *,
    reason: str = "",
    reference: str = "",
    answer_due: datetime | None = None,
    counted: bool = False,
    outcome: str | None = None,
    actor: str = "",
) -> EffectOrder:
    """Move `order` to `state` and note why; `counted`: this was one more call to the system."""
    row = await conn.fetchrow(
        "UPDATE effect_orders SET state = $2, reason = $3,"
        " reference = CASE WHEN $4 = '' THEN reference ELSE $4 END, answer_due = $5,"
        " attempts = attempts + $6, updated_at = now() WHERE id = $1"
        f" RETURNING {_COLUMNS}",
        order.id,
        state,
        reason[:500],
        reference[:200],
        answer_due,
        1 if counted else 0,
    )
    settled = _order(row)
    await note(conn, settled, outcome or state, reason, actor)
    return settled


async def reopen(conn: Conn, order: EffectOrder, actor: str) -> EffectOrder:
    """An operator's retry: a refused effect gets a new series, a dead one keeps its key."""
    if order.state not in FAILED_STATES:
        raise OrderRefused(f"effect {order.id} is {order.state}: only refused or dead ones retry")
    row = await conn.fetchrow(
        "UPDATE effect_orders SET state = 'ordered', attempts = 0, reason = '', answer_due = NULL,"
        " series = series + $2, updated_at = now() WHERE id = $1"
        f" RETURNING {_COLUMNS}",
        order.id,
        1 if order.state == "refused" else 0,
    )
    reopened = _order(row)
    await note(conn, reopened, "retry", "", actor)
    return reopened


async def resolve(conn: Conn, order: EffectOrder, why: str, actor: str) -> EffectOrder:
    """An operator carried the effect out by other means (cash refund, a phone call)."""
    if order.state not in OPEN_STATES:
        raise OrderRefused(f"effect {order.id} is {order.state}: nothing to resolve")
    return await settle(conn, order, "resolved", reason=why, actor=actor)
