"""`tongban effects`: what the region's systems were asked to do for cases, and what came of it.

Each row names its adapter and state; a refused or dead effect (and a pending one past its
answer due) keeps its case open until an operator retries it or records it done by other means
(decision 0029). The commands read and change the region's own database and tell the case's
workflow through Temporal, with the node's own settings (local stack or TONGBAN_NODE_*)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from operators.output import emit
from regions.beijing_time import show
from regions.cli_filters import known_region
from workflows.lifecycle.effects import WATCH_LABELS

if TYPE_CHECKING:
    import asyncpg

    from effects.orders import EffectOrder

app = typer.Typer(no_args_is_help=True, help="Effects carried out by the region's systems.")

RegionOption = Annotated[
    str | None, typer.Option("--region", help="GB/T 2260 code; all: omit", callback=known_region)
]
OperatorOption = Annotated[
    str, typer.Option("--by", help="the operator's 工号, kept with the action", min=1)
]
T = TypeVar("T")

STATE_LABELS: dict[str, str] = {
    **WATCH_LABELS,
    "done": "已完成",
    "resolved": "人工办结",
}


def _settings(region: str) -> Any:
    from deploy.stack.settings import StackSettings
    from regions.local import local_node_settings

    return local_node_settings(region, StackSettings())


def _regions(region: str | None) -> tuple[str, ...]:
    if region:
        return (region,)
    from deploy.stack.settings import StackSettings

    return StackSettings().regions


def effect_row(region: str, order: EffectOrder, now: datetime) -> dict[str, Any]:
    """One effect as `effects list` shows it (and the console's dead letters): a pending one past
    its answer due reads as late."""
    late = order.state == "pending" and order.answer_due is not None and order.answer_due <= now
    return {
        "id": order.id,
        "region": region,
        "case_no": order.case_no,
        "key": order.key,
        "effect": order.effect,
        "adapter": order.adapter,
        "state": "late" if late else order.state,
        "state_label_zh": STATE_LABELS["late" if late else order.state],
        "series": order.series,
        "attempts": order.attempts,
        "amount_fen": order.amount_fen,
        "reference": order.reference,
        "reason": order.reason,
        "answer_due": order.answer_due.isoformat() if order.answer_due else None,
        "updated_at": order.updated_at.isoformat(),
        "updated_at_label_zh": show(order.updated_at),
    }


async def _listing(
    region: str | None, case_no: str | None, failed: bool, limit: int
) -> list[dict[str, Any]]:
    import asyncpg

    from effects import orders

    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for code in _regions(region):
        conn = await asyncpg.connect(_settings(code).postgres_dsn.get_secret_value())
        try:
            found = await orders.listing(conn, case_no=case_no, failed=failed, limit=limit)
        finally:
            await conn.close()
        rows += [effect_row(code, o, now) for o in found]
    return rows


def _line(r: dict[str, Any]) -> str:
    money = f"  ¥{r['amount_fen'] / 100:.2f}" if r["amount_fen"] else ""
    why = f"  {r['reason']}" if r["reason"] else ""
    return (
        f"{r['region']}#{r['id']:<6} {r['case_no']}  {r['key']:<28} {r['adapter']:<10}"
        f" {r['state_label_zh']}({r['state']})  第{r['series']}轮 {r['attempts']}次{money}{why}"
    )


@app.command("list")
def list_effects(
    region: RegionOption = None,
    case_no: Annotated[str | None, typer.Option("--case", help="one case's effects")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="refused or dead only")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 200,
) -> None:
    """Effects, newest first: adapter, state (待执行 / 待对方回执 / 已完成 / 被拒绝 / 多次失败 /
    人工办结), attempt series and calls, and why one is not done."""
    emit(
        asyncio.run(_listing(region, case_no, failed, limit)),
        as_json=as_json,
        empty="no effects" + (" refused or dead" if failed else ""),
        line=_line,
    )


def _act(region: str, action: Callable[[asyncpg.Pool, Any], Awaitable[T]]) -> T:
    import asyncpg

    from regions.node import connect_as_node

    settings = _settings(region)

    async def run() -> T:
        pool = await asyncpg.create_pool(
            settings.postgres_dsn.get_secret_value(), min_size=1, max_size=2
        )
        try:
            client = await connect_as_node(settings)
            return await action(pool, client)
        finally:
            await pool.close()

    return asyncio.run(run())


def _done(what: str, order: EffectOrder) -> None:
    typer.echo(
        f"{what}: #{order.id} {order.case_no} {order.key} → {STATE_LABELS[order.state]}"
        f" (第{order.series}轮)"
    )


@app.command("retry")
def retry(
    effect_id: Annotated[int, typer.Argument(help="the effect's id (effects list)")],
    region: Annotated[
        str, typer.Option("--region", help="GB/T 2260 code of the node", callback=known_region)
    ],
    by: OperatorOption,
) -> None:
    """Carry out a refused or dead effect again. A refused one starts a new attempt series (a
    new idempotency key: the system said no to the old one); a dead one keeps its key, because
    the system may have done it after all and must recognise it."""
    from effects.orders import OrderRefused
    from regions.effect_actions import CaseUnreachable, EffectNotFound
    from regions.effect_actions import retry as retry_effect

    try:
        order = _act(region, lambda pool, client: retry_effect(pool, client, region, effect_id, by))
    except (EffectNotFound, OrderRefused, CaseUnreachable) as exc:
        typer.echo(f"not retried: {exc}", err=True)
        raise typer.Exit(1) from exc
    _done("retrying", order)


@app.command("resolve")
def resolve(
    effect_id: Annotated[int, typer.Argument(help="the effect's id (effects list)")],
    region: Annotated[
        str, typer.Option("--region", help="GB/T 2260 code of the node", callback=known_region)
    ],
    by: OperatorOption,
    note: Annotated[str, typer.Option("--note", help="how it was done instead", min=1)],
) -> None:
    """Record an open effect as done by other means (a refund paid at the counter, a phone
    call instead of an SMS); the case may then close."""
    from effects.orders import OrderRefused
    from regions.effect_actions import CaseUnreachable, EffectNotFound
    from regions.effect_actions import resolve as resolve_effect

    try:
        order = _act(
            region,
            lambda pool, client: resolve_effect(pool, client, region, effect_id, note, by),
        )
    except (EffectNotFound, OrderRefused, CaseUnreachable) as exc:
        typer.echo(f"not resolved: {exc}", err=True)
        raise typer.Exit(1) from exc
    _done("resolved", order)
