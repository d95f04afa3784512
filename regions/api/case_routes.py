"""Reading cases, for every role of the region: one case with its steps, or a page of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from regions.api.auth import Caller, Services
from regions.api.cases import case_view, list_cases
from regions.api.models import CasePage, CaseView, Problem
from regions.api.ownership import CaseNoPath
from regions.labels import UnknownStatus, resolve_status

router = APIRouter(prefix="/cases", tags=["cases"])

UNKNOWN_STATUS = "unknown_status"


@router.get(
    "",
    response_model=CasePage,
    responses={422: {"model": Problem, "description": "an unknown status; lists the valid ones"}},
)
async def cases(
    caller: Caller,
    svc: Services,
    status_filter: Annotated[
        str | None,
        Query(
            alias="status",
            max_length=40,
            description="only this status: its code (processing) or Chinese name (办理中)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CasePage | JSONResponse:
    """This region's cases, newest first. An unknown status is refused (422) with the list of
    valid statuses, never answered with an empty page."""
    code = None
    if status_filter is not None:
        try:
            code = resolve_status(status_filter).code
        except UnknownStatus as exc:
            problem = Problem(detail=str(exc), rule=UNKNOWN_STATUS)
            return JSONResponse(
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                content=problem.model_dump(mode="json"),
            )
    return await list_cases(svc.pool, code, limit, offset)


@router.get("/{case_no}", response_model=CaseView, responses={404: {"model": Problem}})
async def case(case_no: CaseNoPath, caller: Caller, svc: Services) -> CaseView:
    """One case: its status and steps as this region's workflow saw them."""
    return await case_view(svc.pool, svc.client, svc.credentials, case_no)
