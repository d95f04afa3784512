"""Reading cases, for every role of the region: one case with its steps, or a page of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from regions.api.auth import Caller, Services
from regions.api.cases import case_view, list_cases
from regions.api.models import CasePage, CaseView, Problem
from regions.api.ownership import CaseNoPath

router = APIRouter(prefix="/cases", tags=["cases"])


@router.get("", response_model=CasePage)
async def cases(
    caller: Caller,
    svc: Services,
    status: Annotated[str | None, Query(max_length=40, description="only this status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CasePage:
    """This region's cases, newest first."""
    return await list_cases(svc.pool, status, limit, offset)


@router.get("/{case_no}", response_model=CaseView, responses={404: {"model": Problem}})
async def case(case_no: CaseNoPath, caller: Caller, svc: Services) -> CaseView:
    """One case: its status and steps as this region's workflow saw them."""
    return await case_view(svc.pool, svc.client, svc.credentials, case_no)
