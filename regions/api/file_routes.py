"""The case file: the applicant opened, the materials with their bytes, the 补正 history.

Who may open it: the processing officer at the processing region (B), the window clerk at the
accepting region (A), each for a case whose side their region holds. Operators may not: they
follow cases by timeline, search and the access log, never by the applicant's data or files.

Every opening is written to the access log (regions/access_log.py) before the answer is sent;
a request whose row cannot be written is answered 503 and shows nothing (decision 0022).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ConfigDict, ValidationError, computed_field

from catalog.errors import UnknownItem
from events.evidence import EvidenceType, shared_by
from events.keystore import KeyStoreError
from events.models import Applicant, MaterialRef, OriginalsChecked, SealedBox
from events.sealing import SealError, open_box
from events.stores.cases import CaseRecord
from events.stores.files import CaseFile
from events.stores.postgres import PostgresStores
from events.stores.unit import Stores
from regions.access_log import Access, AccessLog, PostgresAccessLog, Reader
from regions.api.auth import Caller, Services
from regions.api.cases import CaseNotFound, progress
from regions.api.models import Problem
from regions.api.ownership import CaseNoPath
from regions.api.services import ApiServices
from regions.codes import UnknownRegion
from regions.evidence.requesting import RequestRow, case_requests
from regions.labels import SUPPLEMENT_KIND_LABELS, Side, status_label
from regions.tokens import Principal, Role, token_id
from workflows.lifecycle import intake, processing
from workflows.models import CaseProgress, CaseStep

router = APIRouter(prefix="/cases", tags=["case file (案卷)"])

FILE_ROUTE = "GET /cases/{case_no}/file"
MATERIAL_ROUTE = "GET /cases/{case_no}/materials/{sha256}"
APPLICANT_FIELDS = ("name", "id_number", "phone", "address", "credit_code")

_SIDE_OF: dict[Role, Literal["origin", "processing"]] = {
    Role.WINDOW_CLERK: "origin",
    Role.PROCESSING_OFFICER: "processing",
}
# The statuses that wait for 补正, on either side, as the lifecycle model names them.
_ASKED: frozenset[str] = frozenset(
    {
        intake.Status.SUPPLEMENT_PENDING,
        intake.Status.SUPPLEMENT_BEFORE_ACCEPTANCE,
        intake.Status.SUPPLEMENT_REQUESTED,
        processing.Status.SUPPLEMENT_BEFORE_ACCEPTANCE,
        processing.Status.SUPPLEMENT_REQUESTED,
    }
)
_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": Problem, "description": "not the case's clerk (A) or officer (B)"},
    404: {"model": Problem, "description": "no such case, or no such complete file in it"},
    503: {"model": Problem, "description": "the access log cannot be written: nothing shown"},
}


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ApplicantView(_Out):
    """The applicant, opened: personal data (its opening is in the access log)."""

    name: str
    id_number: str
    phone: str
    address: str
    credit_code: str | None = None


class MaterialView(_Out):
    name: str
    sha256: str
    size: int | None = None
    media_type: str | None = None
    # A file stands behind the material (not a digest alone, as before files were taken).
    has_file: bool
    # Its bytes are here and match the digest: `GET /cases/{no}/materials/{sha256}` serves them.
    complete: bool
    originals_checked: OriginalsChecked | None = None  # 核验原件: who, when
    # Obtained by data sharing (数据多跑路): the providing region; the applicant brought none.
    obtained_by_data_sharing: str | None = None


class EvidenceLine(_Out):
    """One evidence request this region sent for the case, and where it rests: obtained, or
    on paper again (refused, timed out, unverified, declined by the applicant)."""

    request_id: str
    material: str
    evidence_type: str
    evidence_label_zh: str
    provider_region: str
    status: str
    status_label_zh: str
    on_paper: bool


class SupplementEntry(_Out):
    """One line of the 补正 history, as the case's workflow recorded it."""

    at: datetime
    region: str
    kind: Literal["asked", "provided", "lapsed"]
    status: str
    detail: str
    by: str | None = None
    status_label_zh: str = ""  # the status's name on the case's side (regions/labels.py)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kind_label_zh(self) -> str:
        return SUPPLEMENT_KIND_LABELS[self.kind]


class CaseFileView(_Out):
    case_no: str
    side: Literal["origin", "processing"]
    status: str
    item_code: str
    item_version: int
    item_name: str | None = None
    origin_region: str
    processing_region: str
    # The mode the case runs in, by its Chinese name (全程网办 …); None: the pair's (older rows).
    mode: str | None = None
    applicant: ApplicantView | None = None
    # Why the applicant is not shown (sealed for another region, no key to open it).
    applicant_unavailable: str | None = None
    materials: tuple[MaterialView, ...] = ()
    supplements: tuple[SupplementEntry, ...] = ()
    # The materials asked of other regions by data sharing (decision 0041), this region's asks.
    evidence: tuple[EvidenceLine, ...] = ()
    # False when the case's workflow could not be read (not started, or gone).
    supplements_known: bool = True


def case_stores(svc: Services) -> Stores:
    return PostgresStores(svc.pool)


def access_log(svc: Services) -> AccessLog:
    return PostgresAccessLog(svc.pool)


def reader(caller: Caller, request: Request) -> Reader:
    """Who opens, named by the token's id (the token itself is never kept)."""
    _, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return Reader.of(caller, token_id(token))


CaseStores = Annotated[Stores, Depends(case_stores)]
Log = Annotated[AccessLog, Depends(access_log)]
Opener = Annotated[Reader, Depends(reader)]
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="the material's SHA-256")]


def may_open(caller: Principal, case: CaseRecord) -> None:
    side = _SIDE_OF.get(caller.role)
    if side is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"role {caller.role.value} does not open case files",
        )
    if case.role != side:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"region {caller.region} holds case {case.case_no}'s {case.role} side;"
            f" a {caller.role.value} opens the {side} side's files",
        )


def _opened(svc: ApiServices, case: CaseRecord) -> tuple[ApplicantView | None, str | None]:
    try:
        box = SealedBox.model_validate(case.applicant_sealed)
    except ValidationError:
        return None, "the recorded applicant is not a sealed box"
    if box.recipient != svc.region:
        return None, f"sealed for region {box.recipient}"
    try:
        plain = open_box(
            box, case_no=case.case_no, private_key=svc.credentials.own_sealing_key(box.key_id)
        )
        applicant = Applicant.model_validate_json(plain)
    except (SealError, KeyStoreError, OSError, ValidationError):
        return None, f"cannot be opened with this region's sealing key {box.key_id}"
    return ApplicantView(**applicant.model_dump()), None


def _materials(case: CaseRecord, files: list[CaseFile]) -> tuple[MaterialView, ...]:
    """The case's materials (as recorded) and every file listed for it, each once."""
    by_digest = {f.sha256: f for f in files}
    shown: list[MaterialView] = []
    seen: set[str] = set()
    for raw in case.materials:
        ref = MaterialRef.model_validate(raw)
        if ref.sha256 in seen:
            continue
        seen.add(ref.sha256)
        listed = by_digest.get(ref.sha256)
        shown.append(
            MaterialView(
                name=ref.name,
                sha256=ref.sha256,
                size=listed.size if listed else ref.size,
                media_type=listed.media_type if listed else ref.media_type,
                has_file=listed is not None or ref.has_file,
                complete=listed is not None and listed.complete_at is not None,
                originals_checked=ref.originals_checked or _checked(listed),
                obtained_by_data_sharing=shared_by(ref.ref),
            )
        )
    for listed in files:
        if listed.kind == "material" and listed.sha256 not in seen:
            seen.add(listed.sha256)
            shown.append(
                MaterialView(
                    name=listed.name,
                    sha256=listed.sha256,
                    size=listed.size,
                    media_type=listed.media_type,
                    has_file=True,
                    complete=listed.complete_at is not None,
                    originals_checked=_checked(listed),
                )
            )
    return tuple(shown)


# A case's evidence requests at this region (regions/evidence/requesting.py's case_requests).
EvidenceOf = Callable[[str], Awaitable[Sequence[RequestRow]]]


def case_evidence(svc: Services) -> EvidenceOf:
    return partial(case_requests, svc.pool)


CaseEvidence = Annotated[EvidenceOf, Depends(case_evidence)]


async def _evidence(evidence: EvidenceOf, case_no: str) -> tuple[EvidenceLine, ...]:
    return tuple(
        EvidenceLine(
            request_id=r.request_id,
            material=r.material,
            evidence_type=r.evidence_type,
            evidence_label_zh=EvidenceType(r.evidence_type).label_zh,
            provider_region=r.provider_region,
            status=r.status.value,
            status_label_zh=r.status.label_zh,
            on_paper=r.status.on_paper,
        )
        for r in await evidence(case_no)
    )


def _checked(listed: CaseFile | None) -> OriginalsChecked | None:
    if listed is None or listed.originals_checked_by is None:
        return None
    if listed.originals_checked_at is None:
        return None
    return OriginalsChecked(by=listed.originals_checked_by, at=listed.originals_checked_at)


def supplement_history(
    steps: tuple[CaseStep, ...], side: Side | None = None
) -> tuple[SupplementEntry, ...]:
    """The 补正 lines of a workflow's steps: asked (the status that waits for it), provided
    and lapsed (the steps whose detail the lifecycle writes for them)."""
    found: list[SupplementEntry] = []
    for step in steps:
        kind: Literal["asked", "provided", "lapsed"] | None = None
        if step.status in _ASKED:
            kind = "asked"
        elif "补正" in step.detail:
            lapsed = "not provided" in step.detail or "deadline passed" in step.detail
            kind = "lapsed" if lapsed else "provided"
        if kind is not None:
            found.append(
                SupplementEntry(
                    at=step.at,
                    region=step.region,
                    kind=kind,
                    status=step.status,
                    detail=step.detail,
                    by=step.actor.label if step.actor else None,
                    status_label_zh=status_label(step.status, side),
                )
            )
    return tuple(found)


def _item_name(svc: ApiServices, case: CaseRecord) -> str | None:
    try:
        item = svc.catalog.resolve(case.item_code, svc.region)
    except (UnknownItem, UnknownRegion):
        return None
    return str(item.name) if item.version == case.item_version else None


@dataclass(frozen=True)
class OpenedFile:
    """A case file as opened (the opening logged), and its workflow's progress (None: the
    workflow could not be read) for pages that also show the timeline."""

    view: CaseFileView
    progress: CaseProgress | None


async def open_case_file(
    svc: ApiServices,
    stores: Stores,
    log: AccessLog,
    caller: Principal,
    who: Reader,
    case_no: str,
    evidence: EvidenceOf,
    route: str = FILE_ROUTE,
) -> OpenedFile:
    """The case file as `caller` may open it; the opening is recorded in the access log (under
    `route`) before it is returned, and nothing is returned when the row cannot be written."""
    async with stores.transaction() as tx:
        case = await tx.cases.get(case_no)
        if case is None:
            raise CaseNotFound(case_no)
        may_open(caller, case)
        files = await tx.files.of_case(case_no)
    applicant, unavailable = _opened(svc, case)
    summary_steps = await progress(svc.client, case.case_no, case.role)
    await log.record(
        Access(
            case_no=case_no,
            reader=who,
            route=route,
            what="case-file",
            fields=APPLICANT_FIELDS if applicant is not None else (),
        )
    )
    view = CaseFileView(
        case_no=case_no,
        side=case.role,
        status=summary_steps.status if summary_steps else case.status,
        item_code=case.item_code,
        item_version=case.item_version,
        item_name=_item_name(svc, case),
        origin_region=case.origin_region,
        processing_region=case.processing_region,
        mode=case.mode,
        applicant=applicant,
        applicant_unavailable=unavailable,
        materials=_materials(case, files),
        supplements=supplement_history(summary_steps.steps, case.role) if summary_steps else (),
        supplements_known=summary_steps is not None,
        evidence=await _evidence(evidence, case_no),
    )
    return OpenedFile(view, summary_steps)


@router.get("/{case_no}/file", response_model=CaseFileView, responses=_ERRORS)
async def case_file(
    case_no: CaseNoPath,
    caller: Caller,
    svc: Services,
    stores: CaseStores,
    log: Log,
    who: Opener,
    evidence: CaseEvidence,
) -> CaseFileView:
    """The case file (案卷) as the officer (B) or the clerk (A) reviews it: the applicant
    opened, the item, the materials (digest, size, type, whether the bytes are here, 核验原件)
    and the 补正 history. The opening is recorded in the access log first."""
    return (await open_case_file(svc, stores, log, caller, who, case_no, evidence)).view


async def open_material(
    stores: Stores,
    log: AccessLog,
    caller: Principal,
    who: Reader,
    case_no: str,
    sha256: str,
    route: str = MATERIAL_ROUTE,
) -> tuple[CaseFile, bytes]:
    """A material listed in the case's file whose bytes are complete here (404 otherwise), and
    its bytes; the opening is recorded in the access log (under `route`) first."""
    async with stores.transaction() as tx:
        case = await tx.cases.get(case_no)
        if case is None:
            raise CaseNotFound(case_no)
        may_open(caller, case)
        listed = await tx.files.get(case_no, sha256)
        content = await tx.blobs.get(sha256) if listed is not None and listed.complete_at else None
    if listed is None or content is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"case {case_no} lists no complete file {sha256[:12]}…",
        )
    await log.record(
        Access(
            case_no=case_no,
            reader=who,
            route=route,
            what="material",
            material_sha256=sha256,
        )
    )
    return listed, content


@router.get(
    "/{case_no}/materials/{sha256}",
    response_class=Response,
    responses={
        **_ERRORS,
        200: {
            "description": "the material's bytes",
            "content": {
                t: {} for t in ("application/pdf", "image/jpeg", "image/png", "application/ofd")
            },
        },
    },
)
async def material(
    case_no: CaseNoPath,
    sha256: Digest,
    caller: Caller,
    stores: CaseStores,
    log: Log,
    who: Opener,
) -> Response:
    """A material's bytes, for a material listed in the case's file whose bytes are complete
    here (404 otherwise). The opening is recorded in the access log first."""
    listed, content = await open_material(stores, log, caller, who, case_no, sha256)
    return Response(
        content,
        media_type=listed.media_type,
        headers={
            # Never cached by a proxy or the browser: a cached copy is an unlogged opening.
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'attachment; filename="{sha256[:16]}"',
        },
    )
