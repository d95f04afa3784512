"""The 窗口 section of the console (window): its pages are built on regions/console (see
decision 0032); until then its index says so."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from regions.console.auth import WindowClerkPage
from regions.console.pages import render

router = APIRouter(prefix="/window")


@router.get("/", name="window_index")
async def index(request: Request, user: WindowClerkPage) -> Response:
    return render(
        request,
        "placeholder.html",
        {"title": "窗口", "what": "窗口人员的页面（收件、形式审查、补正、撤回、送达、队列）"},
    )
