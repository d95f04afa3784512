"""The processing region's office (B, 办理地): processing officers' steps."""

from __future__ import annotations

from fastapi import APIRouter

from regions.api.auth import Officer, Services, step_actor
from regions.api.models import STEP_ERRORS, StepResult
from regions.api.ownership import CaseNoPath, own_case
from regions.api.steps import take_step
from regions.naming import processing_workflow_id
from regions.tokens import Principal
from workflows.models import AcceptanceDecision, Decision, PersonInput, SupplementRequest

router = APIRouter(prefix="/office", tags=["office (B, 办理地)"])


async def office_step(
    svc: Services, case_no: str, update: str, arg: PersonInput, caller: Principal
) -> StepResult:
    """The officer's step, recorded in the case's workflow with the officer's 工号 and name
    (the API's routes and the console's office pages both take it here)."""
    await own_case(svc, case_no, "processing")
    return await take_step(
        svc.client, processing_workflow_id(case_no), update, arg, step_actor(caller)
    )


@router.post("/cases/{case_no}/acceptance", responses=STEP_ERRORS)
async def acceptance(
    case_no: CaseNoPath, decision: AcceptanceDecision, caller: Officer, svc: Services
) -> StepResult:
    """Accept the case (the promised time limit starts) or not accept it, with a reason."""
    return await office_step(svc, case_no, "decide_acceptance", decision, caller)


@router.post("/cases/{case_no}/supplement-request", responses=STEP_ERRORS)
async def supplement_request(
    case_no: CaseNoPath, request: SupplementRequest, caller: Officer, svc: Services
) -> StepResult:
    """Ask the applicant, through the accepting window, for 补正; the clock pauses."""
    return await office_step(svc, case_no, "request_supplement", request, caller)


@router.post("/cases/{case_no}/decision", responses=STEP_ERRORS)
async def decision(
    case_no: CaseNoPath, decision: Decision, caller: Officer, svc: Services
) -> StepResult:
    """Approve or deny; the result goes back to the accepting region."""
    return await office_step(svc, case_no, "decide", decision, caller)
