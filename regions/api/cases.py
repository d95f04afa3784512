"""Reading a region's cases: its `cases` table, its workflows' progress, the masked name."""

from __future__ import annotations

from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from events.credentials import RegionCredentials
from events.models import Applicant, SealedBox
from events.sealing import SealError, open_box
from regions.api.models import CasePage, CaseSummary, CaseView
from regions.naming import intake_workflow_id, processing_workflow_id
from workflows.models import CaseProgress

_COLUMNS = (
    "case_no, role, item_code, item_version, origin_region, processing_region, status,"
    " created_at, updated_at"
)


class CaseNotFound(Exception):
    def __init__(self, case_no: str) -> None:
        super().__init__(f"no case {case_no} in this region")
        self.case_no = case_no


def _summary(row: asyncpg.Record) -> CaseSummary:
    return CaseSummary(
        case_no=row["case_no"],
        side=row["role"],
        item_code=row["item_code"],
        item_version=row["item_version"],
        origin_region=row["origin_region"],
        processing_region=row["processing_region"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def case_summary(pool: asyncpg.Pool, case_no: str) -> CaseSummary:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM cases WHERE case_no = $1", case_no)
    if row is None:
        raise CaseNotFound(case_no)
    return _summary(row)


async def list_cases(pool: asyncpg.Pool, status: str | None, limit: int, offset: int) -> CasePage:
    where, args = ("WHERE status = $1", [status]) if status else ("", [])
    n = len(args)
    total = await pool.fetchval(f"SELECT count(*) FROM cases {where}", *args)
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM cases {where} ORDER BY created_at DESC, case_no"
        f" LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        limit,
        offset,
    )
    return CasePage(items=tuple(_summary(r) for r in rows), total=total, limit=limit, offset=offset)


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***: the surname is enough for a clerk to match a person."""
    return name[:1] + "*" * max(len(name) - 1, 1)


async def masked_applicant(
    pool: asyncpg.Pool, credentials: RegionCredentials, case_no: str
) -> str | None:
    sealed: Any = await pool.fetchval(
        "SELECT applicant_sealed FROM cases WHERE case_no = $1", case_no
    )
    if sealed is None:
        return None
    box = SealedBox.model_validate(sealed)
    if box.recipient != credentials.region:
        return None  # sealed for another region: this one cannot and must not read it
    try:
        plain = open_box(box, case_no=case_no, private_key=credentials.own_sealing_key(box.key_id))
    except SealError:
        return None
    return mask_name(Applicant.model_validate_json(plain).name)


async def progress(client: Client, summary: CaseSummary) -> CaseProgress | None:
    workflow_id = (
        intake_workflow_id(summary.case_no)
        if summary.side == "origin"
        else processing_workflow_id(summary.case_no)
    )
    try:
        found: CaseProgress = await client.get_workflow_handle(workflow_id).query(
            "progress", result_type=CaseProgress
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return found


async def case_view(
    pool: asyncpg.Pool, client: Client, credentials: RegionCredentials, case_no: str
) -> CaseView:
    summary = await case_summary(pool, case_no)
    seen = await progress(client, summary)
    name = await masked_applicant(pool, credentials, case_no)
    if seen is None:
        return CaseView(summary=summary, applicant_name_masked=name)
    return CaseView(
        summary=summary,
        applicant_name_masked=name,
        closed=seen.closed,
        outcome=seen.outcome,
        deadline=seen.deadline,
        overdue=seen.overdue,
        steps=seen.steps,
    )
