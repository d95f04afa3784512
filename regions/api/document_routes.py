"""A case's documents: the signed PDFs this region issued, and those the other region issued
that travelled here (B's notices, for A's window to print); and the public check of a
document's number (what anyone who holds one can ask, without personal data)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, HTTPException, Path, Response, status

from events.envelope import Envelope
from events.models import DocumentIssued, EventType
from events.stores.unit import Stores
from regions.access_log import Access, AccessLog, Reader
from regions.api.auth import Caller, Services
from regions.api.cases import CaseNotFound
from regions.api.file_routes import CaseStores, Log, Opener, may_open
from regions.api.models import Problem, _Out
from regions.api.ownership import CaseNoPath
from regions.api.services import ApiServices
from regions.tokens import Principal

router = APIRouter(tags=["documents"])

DOCUMENT_ROUTE = "GET /cases/{case_no}/documents/{number}"
Number = Annotated[
    str, Path(pattern=r"^\d{6}-\d{4}-[A-Z]{2}-\d{6,}$", description="the document's number")
]


class DocumentCheck(_Out):
    """What the issuing region's records say of a number: no personal data."""

    number: str
    title: str
    doc_type: str
    issuing_region: str
    issued_at: datetime
    sha256: str


class DocumentEntry(DocumentCheck):
    """One document of a case, as the case's clerk or officer sees it listed."""

    size: int | None = None
    here: bool  # its bytes are in this region (a document from B: arrived whole)


async def _own(pool: asyncpg.Pool, region: str, case_no: str) -> list[DocumentEntry]:
    rows = await pool.fetch(
        "SELECT number, title, doc_type, sha256, size, issued_at FROM documents"
        " WHERE case_no = $1 ORDER BY issued_at, number",
        case_no,
    )
    return [DocumentEntry(**dict(r), issuing_region=region, here=True) for r in rows]


async def _received(pool: asyncpg.Pool, case_no: str) -> list[DocumentEntry]:
    rows = await pool.fetch(
        "SELECT sender_region, envelope FROM inbox"
        " WHERE case_no = $1 AND event_type = $2 ORDER BY received_at",
        case_no,
        EventType.DOCUMENT_ISSUED.value,
    )
    complete = {
        r["sha256"]
        for r in await pool.fetch(
            "SELECT sha256 FROM case_files WHERE case_no = $1 AND kind = 'document'"
            " AND complete_at IS NOT NULL",
            case_no,
        )
    }
    found = []
    for r in rows:
        envelope = Envelope.model_validate_json(bytes(r["envelope"]))
        issued = DocumentIssued.model_validate(envelope.data)
        found.append(
            DocumentEntry(
                number=issued.number,
                title=issued.title,
                doc_type=issued.doc_type,
                issuing_region=r["sender_region"],
                issued_at=issued.issued_at,
                sha256=issued.document.sha256,
                size=issued.document.size,
                here=issued.document.sha256 in complete,
            )
        )
    return found


async def case_documents(
    svc: ApiServices, stores: Stores, caller: Principal, case_no: str
) -> list[DocumentEntry]:
    """The case's documents as `caller` may list them (the case file's rule of who opens)."""
    async with stores.transaction() as tx:
        case = await tx.cases.get(case_no)
    if case is None:
        raise CaseNotFound(case_no)
    may_open(caller, case)
    return await documents_of(svc, case_no)


async def documents_of(svc: ApiServices, case_no: str) -> list[DocumentEntry]:
    """Every document of a case here, whoever may see them (the caller checks that)."""
    return [*await _own(svc.pool, svc.region, case_no), *await _received(svc.pool, case_no)]


async def open_document(
    svc: ApiServices,
    stores: Stores,
    log: AccessLog,
    caller: Principal,
    who: Reader,
    case_no: str,
    number: str,
    route: str = DOCUMENT_ROUTE,
) -> tuple[DocumentEntry, bytes]:
    """A document of the case whose bytes are here (404 otherwise), and its signed PDF; the
    opening is recorded in the access log (under `route`) first."""
    listed = await case_documents(svc, stores, caller, case_no)
    return await open_listed(stores, log, who, case_no, listed, number, route)


async def open_listed(
    stores: Stores,
    log: AccessLog,
    who: Reader,
    case_no: str,
    documents: list[DocumentEntry],
    number: str,
    route: str,
) -> tuple[DocumentEntry, bytes]:
    """The document `number` among a case's `documents` the reader may see, with its bytes
    (404 when not here); the opening is recorded in the access log first."""
    entry = {d.number: d for d in documents}.get(number)
    async with stores.transaction() as tx:
        content = await tx.blobs.get(entry.sha256) if entry is not None and entry.here else None
    if entry is None or content is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"no document {number} of case {case_no} here"
        )
    await log.record(
        Access(
            case_no=case_no,
            reader=who,
            route=route,
            what="material",
            material_sha256=entry.sha256,
        )
    )
    return entry, content


@router.get(
    "/cases/{case_no}/documents",
    response_model=list[DocumentEntry],
    responses={403: {"model": Problem}, 404: {"model": Problem}},
)
async def documents(
    case_no: CaseNoPath, caller: Caller, svc: Services, stores: CaseStores
) -> list[DocumentEntry]:
    """The case's documents: those this region issued and those the other region issued for
    it (`here`: their bytes arrived whole). Numbers, titles and digests only: listing opens
    no personal data."""
    return await case_documents(svc, stores, caller, case_no)


@router.get(
    "/cases/{case_no}/documents/{number}",
    response_class=Response,
    responses={
        403: {"model": Problem},
        404: {"model": Problem},
        200: {"description": "the signed PDF", "content": {"application/pdf": {}}},
    },
)
async def document(
    case_no: CaseNoPath,
    number: Number,
    caller: Caller,
    svc: Services,
    stores: CaseStores,
    log: Log,
    who: Opener,
) -> Response:
    """The signed PDF (it names the applicant: the opening is recorded in the access log
    first)."""
    _, content = await open_document(svc, stores, log, caller, who, case_no, number)
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{number}.pdf"',
        },
    )


@router.get(
    "/documents/{number}", response_model=DocumentCheck, responses={404: {"model": Problem}}
)
async def check(number: Number, svc: Services) -> DocumentCheck:
    """Anyone holding a document checks its number here (its QR code points here): the
    issuing region's record of it, with the digest its bytes must have. No token needed and
    no personal data given."""
    row = await svc.pool.fetchrow(
        "SELECT number, title, doc_type, sha256, issued_at FROM documents WHERE number = $1",
        number,
    )
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"{svc.region} issued no document {number}"
        )
    return DocumentCheck(**dict(row), issuing_region=svc.region)
