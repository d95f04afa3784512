"""The 办理 section of the console (office): its pages are built on regions/console (see
decision 0032); until then its index says so."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from regions.console.auth import OfficerPage
from regions.console.pages import render

router = APIRouter(prefix="/office")


@router.get("/", name="office_index")
async def index(request: Request, user: OfficerPage) -> Response:
    return render(
        request,
        "placeholder.html",
        {"title": "办理", "what": "办理人员的页面（待受理队列、案卷、受理与决定）"},
    )
