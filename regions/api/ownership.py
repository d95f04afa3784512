"""Which region may take which side's steps of a case.

A case's A-steps belong to its accepting region, its B-steps to its processing region. A node
holds a case's row for the side it plays (`origin` or `processing`), so the row decides.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import HTTPException, Path, status

from events.models import CASE_NO_PATTERN
from regions.api.cases import case_summary
from regions.api.services import ApiServices

CaseNoPath = Annotated[str, Path(pattern=CASE_NO_PATTERN, description="national case number")]


async def own_case(svc: ApiServices, case_no: str, side: Literal["origin", "processing"]) -> None:
    summary = await case_summary(svc.pool, case_no)
    if summary.side != side:
        holder = summary.origin_region if side == "origin" else summary.processing_region
        which = "accepting" if side == "origin" else "processing"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"case {case_no}'s {which}-region steps belong to region {holder}",
        )
