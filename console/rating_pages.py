"""好差评 in the 运维 section (decision 0039): the region's report for a period of Beijing days,
as `tongban ratings report` prints it (operators/ratings_report.py: the same counting)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request, status
from starlette.responses import Response

from console.auth import ConsoleServices, OperatorPage, console_state
from console.errors import PageError
from console.operator_pages import LINKS
from console.pages import Refusal, render
from events.ratings import INVITATION_KEY
from events.stores import ratings as store
from events.stores.ratings import RatingRow
from operators.ratings_report import RatingsReport, period_bounds
from regions.api.services import ApiServices
from regions.beijing_time import BEIJING

router = APIRouter(prefix="/operators")
MAX_DAYS = 366


async def read_rows(
    svc: ApiServices, since: date, until: date
) -> tuple[list[RatingRow], dict[str, int]]:
    """The period's ratings the region answers for, and the 邀评 it ordered, by state."""
    start, end = period_bounds(since, until)
    async with svc.pool.acquire() as conn:
        rows = await store.answerable_by(conn, svc.region, start, end)
        return rows, await store.invitations_sent(conn, INVITATION_KEY, start, end)


def _period(request: Request, now: datetime) -> tuple[date, date]:
    today = now.astimezone(BEIJING).date()
    try:
        since = date.fromisoformat(
            request.query_params.get("from") or today.replace(day=1).isoformat()
        )
        until = date.fromisoformat(request.query_params.get("to") or today.isoformat())
    except ValueError:
        raise PageError(_refused("日期格式应为 YYYY-MM-DD（北京时间）。", "bad_date")) from None
    if until < since or (until - since).days >= MAX_DAYS:
        raise PageError(
            _refused(f"结束日期不能早于开始日期，期间最长 {MAX_DAYS} 天。", "bad_period")
        )
    return since, until


def _refused(message: str, rule: str) -> Refusal:
    return Refusal(
        status.HTTP_422_UNPROCESSABLE_CONTENT, "无法统计该期间", message, rule, "请改正日期后重试。"
    )


@router.get("/ratings", name="operators_ratings")
async def ratings(request: Request, user: OperatorPage, svc: ConsoleServices) -> Response:
    now = console_state(request).now()
    since, until = _period(request, now)
    rows, invitations = await read_rows(svc, since, until)
    found = RatingsReport.of(svc.region, since, until, rows, now, invitations)
    return render(
        request,
        "operators/ratings.html",
        {"links": LINKS, "current": "ratings", "report": found},
    )
