"""The 运维 section of the console (operators): its pages are built on regions/console (see
decision 0032); until then its index says so."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from regions.console.auth import OperatorPage
from regions.console.pages import render

router = APIRouter(prefix="/operators")


@router.get("/", name="operators_index")
async def index(request: Request, user: OperatorPage) -> Response:
    return render(
        request,
        "placeholder.html",
        {
            "title": "运维",
            "what": "运维人员的页面（案件查询、跨地区泳道图、超期与滞留、隔离区、交换健康）",
        },
    )
