"""Reading a region's cases: its case store, its workflows' progress, the masked name."""

from __future__ import annotations

import logging

import asyncpg
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from events.credentials import RegionCredentials
from events.models import Applicant, SealedBox
from events.sealing import SealError, open_box
from events.stores.cases import CaseRecord
from events.stores.postgres import PostgresCaseStore
from regions.api.models import CasePage, CaseSummary, CaseView, RouteLeg, StepView
from regions.naming import intake_workflow_id, processing_workflow_id
from workflows.models import CaseProgress

log = logging.getLogger(__name__)


class CaseNotFound(Exception):
    def __init__(self, case_no: str) -> None:
        super().__init__(f"no case {case_no} in this region")
        self.case_no = case_no


def summary_of(case: CaseRecord) -> CaseSummary:
    return CaseSummary(
        case_no=case.case_no,
        side=case.role,
        item_code=case.item_code,
        item_version=case.item_version,
        origin_region=case.origin_region,
        processing_region=case.processing_region,
        status=case.status,
        created_at=case.created_at,
        updated_at=case.updated_at,
        mode=case.mode,
    )


async def case_summary(pool: asyncpg.Pool, case_no: str) -> CaseSummary:
    case = await PostgresCaseStore(pool).get(case_no)
    if case is None:
        raise CaseNotFound(case_no)
    return summary_of(case)


async def list_cases(pool: asyncpg.Pool, status: str | None, limit: int, offset: int) -> CasePage:
    """A page of the region's cases; `status` is a status code (resolved by the caller)."""
    cases, total = await PostgresCaseStore(pool).page(status, limit, offset)
    return CasePage(
        items=tuple(summary_of(c) for c in cases), total=total, limit=limit, offset=offset
    )


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***: the surname is enough for a clerk to match a person."""
    return name[:1] + "*" * max(len(name) - 1, 1)


async def masked_applicant(
    pool: asyncpg.Pool, credentials: RegionCredentials, case_no: str
) -> str | None:
    case = await PostgresCaseStore(pool).get(case_no)
    if case is None:
        return None
    box = SealedBox.model_validate(case.applicant_sealed)
    if box.recipient != credentials.region:
        return None  # sealed for another region: this one cannot and must not read it
    try:
        plain = open_box(box, case_no=case_no, private_key=credentials.own_sealing_key(box.key_id))
    except SealError:
        return None
    return mask_name(Applicant.model_validate_json(plain).name)


async def progress(client: Client, case_no: str, side: str) -> CaseProgress | None:
    """The progress of this region's workflow of the case (`side`: origin or processing);
    None when there is none."""
    workflow_id = (
        intake_workflow_id(case_no) if side == "origin" else processing_workflow_id(case_no)
    )
    try:
        found: CaseProgress = await client.get_workflow_handle(workflow_id).query(
            "progress", result_type=CaseProgress
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    except WorkflowQueryFailedError as exc:
        # The workflow's history did not replay for the query (decision 0046): the case is
        # shown from its row, without the steps, rather than not at all.
        log.warning("progress of case %s not answered by its workflow: %.200s", case_no, exc)
        return None
    return found


async def case_view(
    pool: asyncpg.Pool, client: Client, credentials: RegionCredentials, case_no: str
) -> CaseView:
    summary = await case_summary(pool, case_no)
    seen = await progress(client, summary.case_no, summary.side)
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
        steps=tuple(StepView.of(step, summary.side) for step in seen.steps),
        route=tuple(RouteLeg.of(leg) for leg in seen.route),
    )
