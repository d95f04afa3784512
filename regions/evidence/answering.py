"""The providing region answers an evidence request (decision 0041).

It decides in this order: is the item (the purpose) one whose material this type satisfies
(not-entitled), did the applicant consent for this use (no-consent), does its 电子证照库 hold
the subject's licence (not-found, subject-mismatch). The answer (the signed document sealed
for the requester, or the refusal) and the row of the use log commit in one transaction; the
answer's event id is derived from the request, so a request handled twice is answered once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from catalog.catalog import Catalog
from catalog.errors import CatalogError
from documents.evidence_pdf import EvidenceDocument, signed_evidence
from documents.sign import signing_key_from_store
from events.credentials import RegionCredentials
from events.envelope import Envelope, event_id_for
from events.evidence import (
    EvidenceAnswered,
    EvidenceRequested,
    EvidenceSubject,
    Refusal,
)
from events.file_receiving import region_opener
from events.models import EventType
from events.outbox import enqueue_in, signed_envelope
from events.sealing import seal
from events.stores.postgres import PostgresTransaction
from events.trust import sealing_key
from regions.codes import UnknownRegion, region
from regions.evidence.provider import EvidenceProvider, Found, Lookup, NotFound

log = logging.getLogger(__name__)

# Consent covers a use shortly after it was given; an older one is asked for again.
CONSENT_VALID_FOR = timedelta(days=30)
_SKEW = timedelta(minutes=5)


def answer_step(request_id: str) -> str:
    return f"evidence-answer-{request_id}"


def entitled(catalog: Catalog, request: EvidenceRequested) -> bool:
    """The item applied for, as its processing region's catalog has it, names a material,
    this one, that this evidence type satisfies."""
    try:
        item = catalog.resolve(request.item_code, request.item_region)
    except (CatalogError, UnknownRegion):
        return False
    return any(
        m.name == request.material and request.evidence_type in m.evidence
        for m in item.evidence_materials()
    )


def consented(request: EvidenceRequested, asked_at: datetime) -> bool:
    given = request.consent.at
    return asked_at - CONSENT_VALID_FOR <= given <= asked_at + _SKEW


@dataclass
class EvidenceAnswerer:
    pool: asyncpg.Pool
    credentials: RegionCredentials
    catalog: Catalog
    provider: EvidenceProvider

    @property
    def region(self) -> str:
        return self.credentials.region

    async def _decide(self, request: EvidenceRequested, asked_at: datetime) -> Refusal | Lookup:
        if not entitled(self.catalog, request):
            return Refusal.NOT_ENTITLED
        if not consented(request, asked_at):
            return Refusal.NO_CONSENT
        plain = region_opener(self.credentials)(request.subject, request.case_no)
        subject = EvidenceSubject.model_validate_json(plain)
        return await self.provider.find(request.evidence_type, subject)

    async def _document(
        self, request: EvidenceRequested, requester: str, found: Found, now: datetime
    ) -> bytes:
        licence = found.licence
        data = EvidenceDocument(
            region=self.region,
            region_name=region(self.region).name,
            evidence_label=licence.evidence_type.label_zh,
            issuer=licence.issuer,
            licence_no=licence.licence_no,
            issued_on=licence.issued_on,
            holder_name=licence.holder_name,
            particulars=licence.particulars,
            requester_name=region(requester).name,
            case_no=request.case_no,
            item_code=request.item_code,
            provided_at=now,
        )
        key = signing_key_from_store(
            self.credentials.store, self.region, self.credentials.directory(), now
        )
        return await signed_evidence(data, key)

    async def answer(self, envelope: Envelope) -> str:
        """Answer the request (once); returns the inbox row's delivery note."""
        request = EvidenceRequested.model_validate(envelope.data)
        requester = envelope.senderregion
        step = answer_step(request.request_id)
        async with self.pool.acquire() as conn:
            answered = await conn.fetchval(
                "SELECT outcome FROM evidence_uses WHERE requester_region = $1 AND request_id = $2",
                requester,
                request.request_id,
            )
        if answered is not None:
            return f"evidence request answered before: {answered}"
        now = datetime.now(UTC)
        decided = await self._decide(request, envelope.time)
        digest: str | None = None
        if isinstance(decided, Found):
            pdf = await self._document(request, requester, decided, now)
            key_id, public = sealing_key(self.credentials.directory(), requester, now)
            box = seal(
                pdf,
                case_no=request.case_no,
                recipient=requester,
                key_id=key_id,
                recipient_public=public,
            )
            answer = EvidenceAnswered(
                case_no=request.case_no,
                request_id=request.request_id,
                evidence_type=request.evidence_type,
                outcome="provided",
                document=box,
                document_sha256=hashlib.sha256(pdf).hexdigest(),
            )
            digest, outcome = decided.holder_digest, "provided"
        else:
            refusal = _refusal(decided)
            digest = None if isinstance(decided, Refusal) else decided.holder_digest
            answer = EvidenceAnswered(
                case_no=request.case_no,
                request_id=request.request_id,
                evidence_type=request.evidence_type,
                outcome="refused",
                refusal=refusal,
            )
            outcome = refusal.value
        reply = signed_envelope(
            self.credentials.signer(now),
            event_type=EventType.EVIDENCE_ANSWERED,
            case_no=request.case_no,
            step=step,
            recipient=requester,
            data=answer.model_dump(mode="json", exclude_none=True),
            now=now,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            logged = await conn.execute(
                "INSERT INTO evidence_uses (requester_region, request_id, case_no,"
                " evidence_type, item_code, material, holder_digest, consent, outcome,"
                " answer_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (requester_region, request_id) DO NOTHING",
                requester,
                request.request_id,
                request.case_no,
                request.evidence_type.value,
                request.item_code,
                request.material,
                digest,
                request.consent.model_dump(mode="json"),
                outcome,
                event_id_for(request.case_no, step, self.region),
            )
            if str(logged).endswith(" 1"):
                await enqueue_in(PostgresTransaction(conn), reply)
        # Ids and the outcome only: the subject and the evidence are never logged.
        log.info(
            "evidence %s: request %s from %s for case %s answered: %s",
            self.region,
            request.request_id,
            requester,
            request.case_no,
            outcome,
        )
        return f"evidence request answered: {outcome}"


def _refusal(decided: Refusal | Lookup) -> Refusal:
    if isinstance(decided, Refusal):
        return decided
    if isinstance(decided, NotFound):
        return Refusal.NOT_FOUND
    return Refusal.SUBJECT_MISMATCH
