"""全程网办: the applicant's own routes (decision 0034). The caller is the person the region's
identity provider's ID token names (`Authorization: Bearer <id token>`); each route answers for
that person's own cases only."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ConfigDict

from regions.access_log import Access, Reader
from regions.api.applicant_cases import (
    ApplicantCaseView,
    OnlineApplication,
    applicant_actor,
    applicant_reader,
    apply_online,
    case_of,
    my_cases,
    own_case,
)
from regions.api.auth import Services
from regions.api.document_routes import Number, documents_of, open_listed
from regions.api.file_routes import CaseStores, Log
from regions.api.models import STEP_ERRORS, CaseSummary, Problem, StepResult, Submitted
from regions.api.ownership import CaseNoPath
from regions.api.services import ApiServices
from regions.api.steps import take_step
from regions.api.uploads import ApplicationUpload, SupplementUpload, form_schema, uploaded
from regions.api.window_routes import IdempotencyKey, supplement_step
from regions.evidence.provider import holder_digest
from regions.evidence.requesting import (
    EvidenceNotHeld,
    EvidenceRequester,
    opened_document,
)
from regions.evidence.uses import DataUses, data_uses
from regions.identity import Applicant, IdentityUnavailable
from regions.naming import intake_workflow_id
from regions.tokens import Principal
from workflows.models import DeliveryConfirmation, PersonInput, SupplementMaterials, Withdrawal

router = APIRouter(prefix="/applicant", tags=["applicant (全程网办)"])

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="IdentityToken",
    description="the ID token (JWT) the region's identity provider issued to the applicant",
)
_UNAUTHORIZED: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "no valid identity token; `rule` names the reason"},
    503: {"model": Problem, "description": "the identity provider's keys cannot be read"},
}


async def verified(svc: ApiServices, token: str | None) -> Applicant:
    if svc.identity is None:
        raise IdentityUnavailable("this region's node names no identity provider")
    return await svc.identity.verify(token)


async def signed_in(
    svc: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Applicant:
    return await verified(svc, credentials.credentials if credentials else None)


SignedIn = Annotated[Applicant, Depends(signed_in)]


def _token(request: Request) -> str:
    _, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token


async def _reader(request: Request, applicant: SignedIn, svc: Services) -> Reader:
    return applicant_reader(applicant, svc.region, _token(request))


Opener = Annotated[Reader, Depends(_reader)]


async def _upload_by_applicant(request: Request) -> Principal | None:
    # Verified before a byte of the body is read (the endpoint verifies again).
    await verified(request.app.state.services, _token(request) or None)
    return None  # an applicant checks no originals


class OnlineApplicationUpload(ApplicationUpload):
    async def authenticate(self, request: Request) -> Principal | None:
        return await _upload_by_applicant(request)


class OnlineSupplementUpload(SupplementUpload):
    async def authenticate(self, request: Request) -> Principal | None:
        return await _upload_by_applicant(request)


async def apply(
    request: Request,
    application: OnlineApplication,
    applicant: SignedIn,
    svc: Services,
    idempotency_key: IdempotencyKey = None,
) -> Submitted:
    upload = uploaded(request)
    return await apply_online(
        svc, applicant, application, upload.files if upload else (), idempotency_key
    )


router.add_api_route(
    "/cases",
    apply,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    description=(
        "Apply online (全程网办) for an item that allows it: the application as JSON, or"
        " multipart/form-data with the files as at a window (`application`, `material`,"
        " `material_names`). Name and ID number come from the identity token. Refused with"
        " 422 naming the rule: `mode_not_allowed` (the item is not 全程网办), `delivery_not_"
        "offered`, `address_required` (邮寄), `missing_materials` and the window's rules."
    ),
    responses={**_UNAUTHORIZED, 422: {"model": Problem, "description": "refused"}},
    openapi_extra=form_schema("application", "the online application", required=True),
    route_class_override=OnlineApplicationUpload,
)


@router.get("/cases", responses=_UNAUTHORIZED)
async def cases(applicant: SignedIn, svc: Services) -> list[CaseSummary]:
    """The applicant's own cases, newest first."""
    return list(await my_cases(svc, applicant))


@router.get("/cases/{case_no}", responses={**_UNAUTHORIZED, 404: {"model": Problem}})
async def case(case_no: CaseNoPath, applicant: SignedIn, svc: Services) -> ApplicantCaseView:
    """One of the applicant's cases: status, timeline, documents, an open 补正 request."""
    return await case_of(svc, applicant, case_no)


@router.get(
    "/cases/{case_no}/documents/{number}",
    response_class=Response,
    responses={
        **_UNAUTHORIZED,
        404: {"model": Problem},
        200: {"description": "the signed PDF", "content": {"application/pdf": {}}},
    },
)
async def document(
    case_no: CaseNoPath,
    number: Number,
    applicant: SignedIn,
    svc: Services,
    stores: CaseStores,
    log: Log,
    who: Opener,
) -> Response:
    """A signed document of the applicant's case (the result: 电子证照 / 决定书); the opening is
    recorded in the access log first."""
    await own_case(svc, applicant, case_no)
    listed = await documents_of(svc, case_no)
    route = "GET /applicant/cases/{case_no}/documents/{number}"
    _, content = await open_listed(stores, log, who, case_no, listed, number, route)
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{number}.pdf"',
        },
    )


async def _step(
    svc: ApiServices, applicant: Applicant, case_no: str, update: str, arg: PersonInput
) -> StepResult:
    await own_case(svc, applicant, case_no)
    actor = applicant_actor(applicant, svc.region)
    return await take_step(svc.client, intake_workflow_id(case_no), update, arg, actor)


async def supplement(
    request: Request,
    case_no: CaseNoPath,
    materials: SupplementMaterials,
    applicant: SignedIn,
    svc: Services,
) -> StepResult:
    await own_case(svc, applicant, case_no)
    upload = uploaded(request)
    actor = applicant_actor(applicant, svc.region)
    return await supplement_step(svc, case_no, materials, upload.described if upload else (), actor)


router.add_api_route(
    "/cases/{case_no}/supplement",
    supplement,
    methods=["POST"],
    description="Answer the processing region's 补正 request with files (as at a window).",
    responses={**_UNAUTHORIZED, **STEP_ERRORS},
    openapi_extra=form_schema("supplement", "the 补正", required=False),
    route_class_override=OnlineSupplementUpload,
)


@router.post("/cases/{case_no}/withdrawal", responses={**_UNAUTHORIZED, **STEP_ERRORS})
async def withdraw(
    case_no: CaseNoPath, withdrawal: Withdrawal, applicant: SignedIn, svc: Services
) -> StepResult:
    """The applicant withdraws; what was done is compensated."""
    return await _step(svc, applicant, case_no, "withdraw", withdrawal)


@router.post("/cases/{case_no}/delivery", responses={**_UNAUTHORIZED, **STEP_ERRORS})
async def delivered(
    case_no: CaseNoPath,
    confirmation: DeliveryConfirmation,
    applicant: SignedIn,
    svc: Services,
) -> StepResult:
    """The applicant confirms the posted result arrived (邮寄: channel mail, tracking number);
    an electronic result is delivered as it arrives and needs no confirmation."""
    return await _step(svc, applicant, case_no, "confirm_delivery", confirmation)


def _holder(applicant: Applicant) -> str:
    # The ID number the identity token names: a person reads and decides on their own only.
    return holder_digest(applicant.id_number)


@router.get("/data-uses", responses=_UNAUTHORIZED)
async def my_data_uses(applicant: SignedIn, svc: Services) -> DataUses:
    """Who used my data (数据多跑路): every evidence this region provided to another region from
    the applicant's licences and every evidence it requested for them, with the case, the
    item, the consent and the outcome; `elsewhere` names the regions that may log more."""
    return await data_uses(svc.pool, svc.region, svc.credentials.directory(), _holder(applicant))


RequestId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the evidence request")]
_EVIDENCE_ERRORS: dict[int | str, dict[str, object]] = {
    **_UNAUTHORIZED,
    404: {"model": Problem, "description": "no such evidence for this applicant here"},
}


@router.get(
    "/evidence/{request_id}/document",
    response_class=Response,
    responses={
        **_EVIDENCE_ERRORS,
        200: {
            "description": "the evidence, signed by its issuer",
            "content": {"application/pdf": {}},
        },
    },
)
async def evidence_document(
    request_id: RequestId, applicant: SignedIn, svc: Services, log: Log, who: Opener
) -> Response:
    """全程网办's preview: the evidence obtained for the applicant, before (or after) they
    decide on its use; the opening is recorded in the access log first."""
    content = await opened_document(
        svc.pool, svc.credentials, request_id, holder=_holder(applicant)
    )
    case_no = await svc.pool.fetchval(
        "SELECT case_no FROM evidence_requests WHERE request_id = $1", request_id
    )
    if content is None or case_no is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no evidence {request_id} here")
    await log.record(
        Access(
            case_no=case_no,
            reader=who,
            route="GET /applicant/evidence/{request_id}/document",
            what="material",
            material_sha256=hashlib.sha256(content).hexdigest(),
        )
    )
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="evidence-{request_id}.pdf"',
        },
    )


class EvidenceDecision(BaseModel):
    """Use the evidence in the case (true), or hand the material in instead (false)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    use: bool


@router.post(
    "/evidence/{request_id}/decision",
    responses={**_EVIDENCE_ERRORS, 409: {"model": Problem, "description": "not awaiting you"}},
)
async def evidence_decision(
    request_id: RequestId, decision: EvidenceDecision, applicant: SignedIn, svc: Services
) -> dict[str, Any]:
    """The applicant approves the evidence held for their preview (it is then in the case
    file as obtained by data sharing) or declines it (the material is theirs to hand in, and
    the document is dropped)."""
    requester = EvidenceRequester(svc.pool, svc.credentials, svc.catalog)
    try:
        row = await requester.decide(request_id, _holder(applicant), use=decision.use)
    except EvidenceNotHeld as exc:
        code = status.HTTP_404_NOT_FOUND if exc.reason == "unknown" else status.HTTP_409_CONFLICT
        raise HTTPException(code, detail=str(exc)) from exc
    return row.as_json()
