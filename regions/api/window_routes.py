"""The accepting region's window (A, 收件地): window clerks' steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Header, Request, status

from events.models import MaterialRef
from regions.api.auth import Clerk, Services, step_actor
from regions.api.models import STEP_ERRORS, Problem, StepResult, Submitted
from regions.api.ownership import CaseNoPath, own_case
from regions.api.services import ApiServices
from regions.api.steps import take_step
from regions.api.uploads import ApplicationUpload, SupplementUpload, form_schema, uploaded
from regions.material_files import keep_files
from regions.naming import intake_workflow_id
from regions.submission_keys import SubmissionKey
from regions.tokens import Principal
from regions.window import Application, case_mode, resolve_item, submit_case
from workflows.lifecycle import intake
from workflows.models import (
    Actor,
    DeliveryConfirmation,
    FormalReview,
    PersonInput,
    SupplementMaterials,
    Withdrawal,
)

router = APIRouter(prefix="/window", tags=["window (A, 收件地)"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[!-~]+$",  # visible ASCII: a UUID, a ULID, the window's own ticket number
        description=(
            "Send one per application and repeat it on every retry: the retry gets the case the"
            " first request created (even if that answer was lost), never a second case. The"
            " key belongs to the window the token names; a retry with a different application"
            " is refused with 422 `idempotency_key_reused`."
        ),
    ),
]


_SUBMIT_DOC = (
    "Accept an application at this window and start the case. A refusal records nothing."
    " With an `Idempotency-Key`, a retry (after a timeout or a 503) returns the same case.\n\n"
    "The body is the application as JSON, or multipart/form-data with the scanned materials:"
    " `application` (that JSON, as a text field), one `material` file part per material"
    " (PDF, JPEG, PNG or OFD, checked by content), one `material_names` field per file in the"
    " files' order, and `originals_checked` naming each material whose original the clerk"
    " checked (核验原件: recorded with the clerk and the time). Each file joins the"
    " application's materials, described by its bytes (digest, size, type). A file refused is"
    " a 422 naming the rule: `too_many_files`, `file_too_large`, `case_files_too_large`,"
    " `file_type_not_allowed`, `empty_file`, `duplicate_material`; a form that does not follow"
    " this: `material_names_mismatch`, `unknown_original`, `unknown_part`, `malformed_upload`."
)


async def submit(
    request: Request,
    application: Application,
    caller: Clerk,
    svc: Services,
    idempotency_key: IdempotencyKey = None,
) -> Submitted:
    submission = (
        SubmissionKey(window=caller.window, key=idempotency_key) if idempotency_key else None
    )
    upload = uploaded(request)
    handle = await submit_case(
        pool=svc.pool,
        client=svc.client,
        credentials=svc.credentials,
        application=application,
        policies=svc.policies,
        catalog=svc.catalog,
        # Scoped to the window: two windows' clients may pick the same key.
        submission=submission,
        files=upload.files if upload else (),
        received_by=step_actor(caller),  # 收件: the clerk the token names
    )
    # submit_case refused whatever the item does not allow, the uploaded files counted; this
    # only names the item for the answer (the files are not among `application.materials`).
    item = resolve_item(svc.catalog, application, svc.region, tolerate_missing=True)
    return Submitted(
        case_no=handle.id.removeprefix("intake-"),
        status=intake.Status.RECEIVED.value,
        item_code=item.code,
        item_version=item.version,
        required_materials=tuple(m.name for m in item.carried_materials()),
        mode=case_mode(application, svc.region).value,
    )


router.add_api_route(
    "/cases",
    submit,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    description=_SUBMIT_DOC,
    responses={
        422: {
            "model": Problem,
            "description": "refused; nothing was recorded (`idempotency_key_reused`: the key"
            " already created a case for a different application)",
        }
    },
    openapi_extra=form_schema("application", "the application", required=True),
    route_class_override=ApplicationUpload,
)


async def _step(
    svc: Services, case_no: str, update: str, arg: PersonInput, caller: Principal
) -> StepResult:
    """The clerk's step, recorded in the case's workflow with the clerk's 工号 and name."""
    await own_case(svc, case_no, "origin")
    return await take_step(svc.client, intake_workflow_id(case_no), update, arg, step_actor(caller))


@router.post("/cases/{case_no}/formal-review", responses=STEP_ERRORS)
async def formal_review(
    case_no: CaseNoPath, review: FormalReview, caller: Clerk, svc: Services
) -> StepResult:
    """Record the formal review (形式审查): pass, ask for 补正, or refuse."""
    return await _step(svc, case_no, "record_formal_review", review, caller)


async def supplement(
    request: Request,
    case_no: CaseNoPath,
    materials: SupplementMaterials,
    caller: Clerk,
    svc: Services,
) -> StepResult:
    upload = uploaded(request)
    return await provide_supplement(
        svc, case_no, materials, upload.described if upload else (), caller
    )


async def provide_supplement(
    svc: ApiServices,
    case_no: str,
    materials: SupplementMaterials,
    described: Sequence[tuple[MaterialRef, bytes]],
    caller: Principal,
) -> StepResult:
    """The 补正 step (the API's and the console's): the files' bytes, already checked and
    described (`take_files`, their refs among `materials`), are kept before the step, since
    the workflow may send them to B at once."""
    await own_case(svc, case_no, "origin")
    return await supplement_step(svc, case_no, materials, described, step_actor(caller))


async def supplement_step(
    svc: ApiServices,
    case_no: str,
    materials: SupplementMaterials,
    described: Sequence[tuple[MaterialRef, bytes]],
    actor: Actor,
) -> StepResult:
    """The 补正 step taken by `actor` (a clerk, or the applicant online) on a case whose
    accepting side is this region's."""
    if described:
        await keep_files(svc.pool, case_no, described)
    return await take_step(
        svc.client, intake_workflow_id(case_no), "provide_supplement", materials, actor
    )


router.add_api_route(
    "/cases/{case_no}/supplement",
    supplement,
    methods=["POST"],
    description=(
        "Provide the 补正 materials the window or the processing region asked for: as JSON"
        " (`materials`), or as multipart/form-data with the files as at submission (an"
        " optional `supplement` text field holds the JSON; each file joins its `materials`)."
    ),
    responses=STEP_ERRORS,
    openapi_extra=form_schema("supplement", "the 补正", required=False),
    route_class_override=SupplementUpload,
)


@router.post("/cases/{case_no}/withdrawal", responses=STEP_ERRORS)
async def withdraw(
    case_no: CaseNoPath, withdrawal: Withdrawal, caller: Clerk, svc: Services
) -> StepResult:
    """The applicant withdraws; what was done is compensated."""
    return await _step(svc, case_no, "withdraw", withdrawal, caller)


@router.post("/cases/{case_no}/delivery", responses=STEP_ERRORS)
async def deliver(
    case_no: CaseNoPath, confirmation: DeliveryConfirmation, caller: Clerk, svc: Services
) -> StepResult:
    """Confirm the result reached the applicant (mail needs a tracking number)."""
    return await _step(svc, case_no, "confirm_delivery", confirmation, caller)
