"""The region's document issuer: which step issues which document, with what data, and
keeping it (numbered, rendered, signed, stored) in the step's own transaction.

At the accepting region (A): 收件凭证 when the window takes the materials, 送达回证 when the
result is handed over. At the processing region (B): 受理通知书, 不予受理通知书, 补正材料通知书,
准予 / 不予行政许可决定书, and the 终止 notice when a case is cancelled. One document per
occasion: a retried commit finds the document it issued (same number, same bytes).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime

import asyncpg

from activities.contracts import Effect
from activities.documents import IssuedDocument, Occasion
from catalog.catalog import Catalog
from catalog.errors import CatalogError
from documents.models import (
    DocumentData,
    DocumentType,
    MaterialLine,
    Remedies,
    WithdrawalKind,
    beijing_date,
    document_number,
)
from documents.render import render_pdf
from documents.sign import sign_pdf, signing_key_from_store
from events.credentials import RegionCredentials
from events.materials import describe
from events.models import Applicant, EventType, SealedBox
from events.pg import Conn
from events.sealing import open_box
from events.stores.cases import CaseRecord
from events.stores.files_postgres import PostgresBlobs, PostgresCaseFiles
from events.stores.postgres import PostgresCaseStore
from regions.codes import UnknownRegion, region
from workflows.lifecycle.vocabulary import DEEMED_WITHDRAWN_STEP

# Renders and signs a document: the PDF bytes the applicant will hold.
Produce = Callable[[DocumentData], Awaitable[bytes]]


def signed_pdfs(credentials: RegionCredentials) -> Produce:
    """Render (in a thread: reportlab is CPU work) and sign with the region's signing key and
    its certificate under the national root, the signing time being the issue time."""

    async def produce(data: DocumentData) -> bytes:
        key = signing_key_from_store(
            credentials.store, credentials.region, credentials.directory(), data.issued_at
        )
        pdf = await asyncio.to_thread(render_pdf, data)
        return await sign_pdf(
            pdf, key, signed_at=data.issued_at, reason=data.title, location=data.region_name
        )

    return produce


def _date(value: object) -> date | None:
    return datetime.fromisoformat(str(value)).date() if value else None


def _texts(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _plan(occasion: Occasion) -> tuple[DocumentType, str] | None:
    """The document an occasion issues and the occasion's key (one document per key)."""
    if occasion.kind == "effect":
        if occasion.name == Effect.TAKE_MATERIALS.value:
            return DocumentType.RECEIPT, occasion.key
        if occasion.name == Effect.ISSUE_SUPPLEMENT_NOTICE.value:
            return DocumentType.FORMAL_REVIEW_NOTICE, occasion.key
        return None
    data = occasion.data
    match occasion.name:
        case EventType.ACCEPTED.value:
            return DocumentType.ACCEPTANCE, occasion.key
        case EventType.NOT_ACCEPTED.value:
            return DocumentType.NON_ACCEPTANCE, occasion.key
        case EventType.SUPPLEMENT_REQUESTED.value:
            return DocumentType.SUPPLEMENT_REQUEST, occasion.key
        case EventType.DECIDED.value:
            # A decision repeated (to answer a recall) is the same decision: one 决定书.
            kind = (
                DocumentType.APPROVAL if data.get("outcome") == "approved" else DocumentType.DENIAL
            )
            return kind, "event:decided"
        case EventType.CANCELLED.value if occasion.step == DEEMED_WITHDRAWN_STEP:
            return DocumentType.WITHDRAWAL, occasion.key  # 视为撤回: the 补正 deadline passed
        case EventType.CANCELLED.value:
            return DocumentType.TERMINATION, occasion.key
        case EventType.RESULT_DELIVERED.value if data.get("channel") != "notice":
            return DocumentType.SERVICE_RECEIPT, occasion.key
    return None


class RegionDocuments:
    """`produce` renders and signs (documents.render / documents.sign with the region's
    certificate); `verification_base` is where anyone checks a document by its number."""

    def __init__(
        self,
        credentials: RegionCredentials,
        catalog: Catalog,
        produce: Produce,
        verification_base: str,
    ) -> None:
        self._credentials = credentials
        self._region = credentials.region
        self._catalog = catalog
        self._produce = produce
        self._verification_base = verification_base.rstrip("/")

    async def issue(self, conn: Conn, occasion: Occasion) -> IssuedDocument | None:
        planned = _plan(occasion)
        if planned is None:
            return None
        doc_type, key = planned
        found = await conn.fetchrow(
            "SELECT number, doc_type, title, sha256, issued_at FROM documents"
            " WHERE case_no = $1 AND occasion = $2",
            occasion.case_no,
            key,
        )
        if found is not None:
            return await self._issued(conn, occasion.case_no, found)
        case = await PostgresCaseStore(conn).get(occasion.case_no)
        if case is None:
            return None  # the commit itself refuses a case this region has not recorded
        serial = await conn.fetchval("SELECT nextval('document_serial')")
        number = document_number(
            self._region, beijing_date(occasion.at).year, doc_type, int(serial)
        )
        data = await self._data(conn, case, doc_type, number, occasion)
        pdf = await self._produce(data)
        file = describe(f"{data.title} {number}", pdf, "application/pdf")
        await PostgresBlobs(conn).put(file.sha256, pdf)
        await conn.execute(
            "INSERT INTO documents (number, case_no, doc_type, title, occasion, sha256, size,"
            " issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            number,
            occasion.case_no,
            doc_type.value,
            data.title,
            key,
            file.sha256,
            len(pdf),
            occasion.at,
        )
        return IssuedDocument(number, doc_type.value, data.title, occasion.at, file)

    async def _issued(self, conn: Conn, case_no: str, row: asyncpg.Record) -> IssuedDocument:
        pdf = await PostgresBlobs(conn).get(row["sha256"])
        assert pdf is not None, "a document's record without its bytes"
        file = describe(f"{row['title']} {row['number']}", pdf, "application/pdf")
        return IssuedDocument(row["number"], row["doc_type"], row["title"], row["issued_at"], file)

    def _applicant_name(self, case: CaseRecord) -> str:
        box = SealedBox.model_validate(case.applicant_sealed)
        key = self._credentials.own_sealing_key(box.key_id)
        plain = open_box(box, case_no=case.case_no, private_key=key)
        return Applicant.model_validate_json(plain).name

    def _item_name(self, case: CaseRecord) -> str:
        try:
            return str(self._catalog.resolve(case.item_code, self._region).name)
        except (CatalogError, UnknownRegion):
            return case.item_code  # the catalog changed since: the code still names it

    async def _data(
        self, conn: Conn, case: CaseRecord, doc_type: DocumentType, number: str, occasion: Occasion
    ) -> DocumentData:
        region_name = region(self._region).name
        data = occasion.data
        extra: dict[str, object] = {}
        remedies = Remedies(review_body=f"{region_name}人民政府")
        if doc_type is DocumentType.RECEIPT:
            files = {f.sha256: f for f in await PostgresCaseFiles(conn).of_case(case.case_no)}
            lines = []
            checkers = set()
            for m in case.materials:
                listed = files.get(str(m.get("sha256")))
                checked = listed is not None and listed.originals_checked_by is not None
                if checked and listed is not None:
                    checkers.add(listed.originals_checked_by)
                lines.append(MaterialLine(name=str(m["name"]), original_checked=checked))
            extra = {
                # An item that needs no materials still gets its 收件凭证, saying so.
                "materials": tuple(lines) or (MaterialLine(name="无（本事项无需提交材料）"),),
                "received_by": "、".join(sorted(c for c in checkers if c))
                or f"{region_name}收件窗口",
            }
        elif doc_type is DocumentType.FORMAL_REVIEW_NOTICE:
            notice = json.loads(str(data.get("detail") or "{}"))
            extra = {
                "missing": _texts(notice.get("missing")),
                "supplement_deadline": _date(notice.get("due")),
                "reason": str(notice.get("reason") or "") or None,
            }
        elif doc_type is DocumentType.ACCEPTANCE:
            extra = {
                "received_on": beijing_date(case.created_at or occasion.at),
                "decision_due": _date(data.get("deadline")),
                # 行政许可法 Art. 32: accepted by law as of the day the file was received.
                "deemed_accepted": Effect.ISSUE_DEEMED_ACCEPTANCE_NOTICE.value in occasion.effects,
            }
        elif doc_type is DocumentType.WITHDRAWAL:
            extra = {"withdrawal_kind": WithdrawalKind.DEEMED}
        elif doc_type is DocumentType.NON_ACCEPTANCE:
            extra = {"reason": str(data.get("reason") or "不符合受理条件"), "remedies": remedies}
        elif doc_type is DocumentType.SUPPLEMENT_REQUEST:
            extra = {
                "missing": _texts(data.get("missing")),
                "supplement_deadline": _date(data.get("due")),
                "reason": str(data.get("reason") or "") or None,
            }
        elif doc_type is DocumentType.APPROVAL:
            extra = {"reason": str(data.get("reason") or "") or None}
        elif doc_type is DocumentType.DENIAL:
            extra = {"reason": str(data.get("reason") or "不符合法定条件"), "remedies": remedies}
        elif doc_type is DocumentType.TERMINATION:
            withdrawn = await conn.fetchval(
                "SELECT true FROM inbox WHERE case_no = $1 AND event_type = $2",
                case.case_no,
                EventType.WITHDRAWN.value,
            )
            extra = {
                "reason": "申请人撤回申请，本机关终止办理该申请"
                if withdrawn
                else "受理地撤回办件，本机关终止办理该申请"
            }
        elif doc_type is DocumentType.SERVICE_RECEIPT:
            channel = {"window": "窗口领取", "mail": "邮寄送达", "online": "网上送达"}
            extra = {
                "delivery_channel": channel.get(str(data.get("channel")), str(data.get("channel"))),
                "tracking_no": data.get("tracking_no"),
            }
        code = hashlib.sha256(f"{number}|{case.case_no}".encode()).hexdigest()[:12].upper()
        return DocumentData.model_validate(
            {
                "type": doc_type,
                "number": number,
                "case_no": case.case_no,
                "region": self._region,
                "region_name": region_name,
                "item_code": case.item_code,
                "item_name": self._item_name(case),
                "item_version": str(case.item_version),
                "applicant_name": self._applicant_name(case),
                "issued_at": occasion.at,
                "verification_url": f"{self._verification_base}/documents/{number}",
                "verification_code": code,
                **extra,
            }
        )
