"""The requesting region: asking for evidence, taking the answer, and falling back to paper.

A request is a row in `evidence_requests` and a signed `evidence.requested` in the outbox,
written in one transaction. The answer is taken in by the inbox dispatcher (never a case
workflow: their histories stay as they are): a document is opened, its digest checked and
its issuer's signature verified before the material counts as obtained. A request with no
answer by its `answer_by` is timed out by the node's sweeper, and the material is required
on paper again, as after a refusal: the case never waits on a provider.

In 全程网办 there is no clerk to see the evidence with the applicant: a verified document for
a 全程网办 case is held until the applicant, signed in, previews it and approves its use (then
it is in the case file as obtained) or declines it (then they hand the material in, and the
document is dropped). Each request keeps the digest of whose evidence it asked for, so the
applicant finds the requests made for them, and nobody else's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import ValidationError

from catalog.catalog import Catalog
from catalog.errors import CatalogError
from catalog.models import CrossRegionMode
from documents.verify import verify_document
from events.credentials import RegionCredentials
from events.envelope import Envelope, event_id_for
from events.evidence import (
    EvidenceAnswered,
    EvidenceRequested,
    EvidenceSubject,
    EvidenceType,
    RequestStatus,
    evidence_ref,
)
from events.evidence_checks import providers
from events.file_receiving import region_opener
from events.models import (
    Applicant,
    CaseForwarded,
    Consent,
    EventType,
    SealedBox,
    accepting_region_of,
)
from events.outbox import enqueue_in, signed_envelope
from events.rejections import Rejected
from events.sealing import SealError, seal
from events.stores.postgres import Conn, PostgresTransaction
from events.trust import sealing_key
from regions.codes import UnknownRegion
from regions.evidence.automatic import automatic_request_id, plan_requests
from regions.evidence.provider import holder_digest, subject_identifier
from workflows.lifecycle import intake, processing

log = logging.getLogger(__name__)

# How long a provider has to answer unless the request says otherwise: a working day's wait
# at most, then the applicant is asked for the paper.
DEFAULT_ANSWER_WITHIN = timedelta(hours=8)
# While a decision is still to be taken, evidence can serve it.
_OPEN = {
    "origin": frozenset(s.value for s in intake.Status)
    - {
        s.value
        for s in (
            intake.Status.REFUSED_AT_INTAKE,
            intake.Status.RESULT_RECEIVED,
            intake.Status.RESULT_DELIVERED,
            intake.Status.NOT_ACCEPTED,
            intake.Status.TRANSFER_FAILED,
            intake.Status.COMPENSATING,
            intake.Status.CLOSED,
            intake.Status.CLOSED_REJECTED,
            intake.Status.CLOSED_WITHDRAWN,
            intake.Status.CLOSED_DEEMED_WITHDRAWN,
        )
    },
    "processing": frozenset(
        s.value
        for s in (
            processing.Status.RECEIVED,
            processing.Status.SUPPLEMENT_BEFORE_ACCEPTANCE,
            processing.Status.DEEMED_ACCEPTED,
            processing.Status.PROCESSING,
            processing.Status.SUPPLEMENT_REQUESTED,
        )
    ),
}


class EvidenceRequestRefused(Exception):
    """This region will not send the request; `reason` is a code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EvidenceNotHeld(Exception):
    """The applicant's decision cannot be taken: no such request for them (`unknown`), or it
    is not waiting for their decision (`not-held`, the status in the message)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RequestRow:
    request_id: str
    case_no: str
    evidence_type: str
    material: str
    item_code: str
    provider_region: str
    consent: dict[str, Any]
    status: RequestStatus
    refusal: str | None
    document_sha256: str | None
    requested_at: datetime
    answer_by: datetime
    answered_at: datetime | None
    applicant_preview: bool
    decided_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "case_no": self.case_no,
            "evidence_type": self.evidence_type,
            "evidence_label": EvidenceType(self.evidence_type).label_zh,
            "material": self.material,
            "item_code": self.item_code,
            "provider_region": self.provider_region,
            "consent": self.consent,
            "status": self.status.value,
            "status_label": self.status.label_zh,
            "on_paper": self.status.on_paper,
            "refusal": self.refusal,
            "document_sha256": self.document_sha256,
            "requested_at": self.requested_at.isoformat(),
            "answer_by": self.answer_by.isoformat(),
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
            "applicant_preview": self.applicant_preview,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


_COLUMNS = (
    "request_id, case_no, evidence_type, material, item_code, provider_region, consent, status,"
    " refusal, document_sha256, requested_at, answer_by, answered_at, applicant_preview, decided_at"
)


def _row(record: asyncpg.Record) -> RequestRow:
    # The holder digest stays in the database: it finds rows, it is never shown.
    consent = record["consent"]
    return RequestRow(
        **{
            **{k: v for k, v in dict(record).items() if k != "holder_digest"},
            "consent": json.loads(consent) if isinstance(consent, str) else consent,
            "status": RequestStatus(record["status"]),
        }
    )


async def case_requests(conn: asyncpg.Connection | asyncpg.Pool, case_no: str) -> list[RequestRow]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM evidence_requests WHERE case_no = $1"
        " ORDER BY requested_at, request_id",
        case_no,
    )
    return [_row(r) for r in rows]


async def pending_requests(conn: asyncpg.Connection | asyncpg.Pool) -> list[RequestRow]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM evidence_requests WHERE status = 'pending'"
        " ORDER BY answer_by, request_id"
    )
    return [_row(r) for r in rows]


async def holder_requests(conn: asyncpg.Connection | asyncpg.Pool, holder: str) -> list[RequestRow]:
    """Every request this region sent for the person or organisation `holder` digests."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM evidence_requests WHERE holder_digest = $1"
        " ORDER BY requested_at, request_id",
        holder,
    )
    return [_row(r) for r in rows]


async def _into_case_file(conn: Conn, case_no: str, material: str, digest: str, ref: str) -> None:
    """In the case file as obtained by data sharing: its digest and where it came from."""
    await PostgresTransaction(conn).cases.add_materials(
        case_no, [{"name": material, "sha256": digest, "ref": ref}]
    )


def request_step(request_id: str) -> str:
    return f"evidence-request-{request_id}"


@dataclass(frozen=True)
class _Asked:
    """One request as this region sends it (the subject is added from the applicant)."""

    request_id: str
    case_no: str
    kind: EvidenceType
    material: str
    item_code: str
    item_region: str
    provider: str
    consent: Consent
    mandate: dict[str, Any] | None
    applicant_preview: bool


@dataclass
class EvidenceRequester:
    pool: asyncpg.Pool
    credentials: RegionCredentials
    catalog: Catalog

    @property
    def region(self) -> str:
        return self.credentials.region

    def _provider(self, kind: EvidenceType, chosen: str | None) -> str:
        offered = providers(self.credentials.directory(), kind)
        if chosen is not None:
            if chosen not in offered:
                raise EvidenceRequestRefused(
                    "not-a-provider", f"{chosen} does not provide {kind.label_zh} ({kind.value})"
                )
            return chosen
        if len(offered) != 1:
            raise EvidenceRequestRefused(
                "choose-provider",
                f"{kind.label_zh} is provided by {', '.join(offered) or 'no region'}:"
                " name the provider",
            )
        return offered[0]

    async def request(
        self,
        case_no: str,
        kind: EvidenceType,
        consent: Consent,
        *,
        provider: str | None = None,
        answer_within: timedelta = DEFAULT_ANSWER_WITHIN,
    ) -> RequestRow:
        """Ask `provider` (or the one region providing `kind`) for the case applicant's
        evidence; refused here when the case is not this region's, is past needing it, or
        its item names no material this type satisfies."""
        target = self._provider(kind, provider)
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            tx = PostgresTransaction(conn)
            case = await tx.cases.get(case_no)
            if case is None:
                raise EvidenceRequestRefused("unknown-case", f"no case {case_no} in {self.region}")
            if case.status not in _OPEN[case.role]:
                raise EvidenceRequestRefused(
                    "case-not-open",
                    f"case {case_no} is {case.status}: no decision left for evidence to serve",
                )
            try:
                item = self.catalog.resolve(case.item_code, case.processing_region)
            except (CatalogError, UnknownRegion) as exc:
                raise EvidenceRequestRefused("unknown-item", str(exc)) from exc
            material = next((m for m in item.evidence_materials() if kind in m.evidence), None)
            if material is None:
                raise EvidenceRequestRefused(
                    "not-for-this-item",
                    f"item {item.code} names no material {kind.label_zh} satisfies",
                )
            mandate: dict[str, Any] | None = None
            origin = accepting_region_of(case_no)
            if origin != self.region:
                raw = await tx.inbox.envelope(origin, event_id_for(case_no, "forwarded", origin))
                if raw is None:
                    raise EvidenceRequestRefused(
                        "no-mandate", f"the forwarded event of {case_no} is not in the inbox"
                    )
                mandate = json.loads(raw)
            box = SealedBox.model_validate(case.applicant_sealed)
            applicant = Applicant.model_validate_json(region_opener(self.credentials)(box, case_no))
            record = await self._write(
                conn,
                _Asked(
                    request_id=secrets.token_hex(16),
                    case_no=case_no,
                    kind=kind,
                    material=material.name,
                    item_code=item.code,
                    item_region=case.processing_region,
                    provider=target,
                    consent=consent,
                    mandate=mandate,
                    # No clerk saw it with the applicant: they see it before it is used.
                    applicant_preview=case.mode == CrossRegionMode.ONLINE.value,
                ),
                applicant,
                now,
                answer_within,
            )
        assert record is not None  # a fresh random request id never meets an existing row
        return _row(record)

    async def request_for_forwarded(
        self, forwarded: Envelope, answer_within: timedelta = DEFAULT_ANSWER_WITHIN
    ) -> list[RequestRow]:
        """The case has just reached this region: ask, by itself, for the evidence its item
        names, when the accepting region sent the applicant's consent with it. The requests
        are keyed by case and material, so asking again for the same case sends nothing new.
        A case this cannot be done for (item not in this region's catalog, applicant or
        provider keys unusable) is logged and its materials come on paper: it never holds up
        the case."""
        case_no = forwarded.subject
        now = datetime.now(UTC)
        try:
            payload = CaseForwarded.model_validate(forwarded.data)
            item = self.catalog.resolve(payload.item_code, self.region)
        except (ValidationError, CatalogError, UnknownRegion) as exc:
            log.warning("evidence %s: case %s asks for no evidence: %s", self.region, case_no, exc)
            return []
        if not item.evidence_materials():
            return []
        if payload.evidence_consent is None:
            # Nothing to open or store: no consent, nothing is asked (the materials on paper).
            log.info(
                "evidence %s: case %s came without consent to data sharing: nothing is asked",
                self.region,
                case_no,
            )
            return []
        sent: list[RequestRow] = []
        async with self.pool.acquire() as conn, conn.transaction():
            asked = {
                r["material"]
                for r in await conn.fetch(
                    "SELECT material FROM evidence_requests WHERE case_no = $1", case_no
                )
            }
            try:
                applicant = Applicant.model_validate_json(
                    region_opener(self.credentials)(payload.applicant, case_no)
                )
            except (SealError, ValidationError) as exc:
                log.warning(
                    "evidence %s: case %s: the applicant cannot be read to ask for evidence: %s",
                    self.region,
                    case_no,
                    type(exc).__name__,
                )
                return []
            planned, skipped = plan_requests(
                item,
                self.credentials.directory(),
                self.region,
                consent=payload.evidence_consent,
                organisation=applicant.credit_code is not None,
                asked=asked,
            )
            for not_asked in skipped:
                log.info(
                    "evidence %s: case %s: %s is not asked for (%s): it comes on paper",
                    self.region,
                    case_no,
                    not_asked.material,
                    not_asked.reason,
                )
            # The mandate: the accepting region's signed `forwarded`, as it was stored.
            raw = await PostgresTransaction(conn).inbox.envelope(
                forwarded.senderregion, forwarded.id
            )
            if raw is None:
                log.warning(
                    "evidence %s: case %s: its forwarded event is not in the inbox",
                    self.region,
                    case_no,
                )
                return []
            mandate = json.loads(raw)
            for plan in planned:
                asked_for = _Asked(
                    request_id=automatic_request_id(case_no, plan.material),
                    case_no=case_no,
                    kind=plan.evidence_type,
                    material=plan.material,
                    item_code=item.code,
                    item_region=self.region,
                    provider=plan.provider,
                    consent=payload.evidence_consent,
                    mandate=mandate,
                    applicant_preview=payload.mode == CrossRegionMode.ONLINE.value,
                )
                try:
                    record = await self._write(conn, asked_for, applicant, now, answer_within)
                except (Rejected, SealError) as exc:
                    log.warning(
                        "evidence %s: case %s: %s cannot be asked of %s (%s): it comes on paper",
                        self.region,
                        case_no,
                        plan.material,
                        plan.provider,
                        exc,
                    )
                    continue
                if record is not None:
                    sent.append(_row(record))
        return sent

    async def _write(
        self,
        conn: Conn,
        asked: _Asked,
        applicant: Applicant,
        now: datetime,
        answer_within: timedelta,
    ) -> asyncpg.Record | None:
        """The request row and its signed event in the outbox, in the caller's transaction;
        None (nothing written) when a request with this id exists already."""
        kind, target, case_no = asked.kind, asked.provider, asked.case_no
        subject = EvidenceSubject(
            name=applicant.name,
            id_number=applicant.id_number if kind.subject_kind == "person" else None,
            credit_code=applicant.credit_code if kind.subject_kind != "person" else None,
        )
        key_id, public = sealing_key(self.credentials.directory(), target, now)
        identifier = subject_identifier(kind, subject)
        payload = EvidenceRequested(
            case_no=case_no,
            request_id=asked.request_id,
            evidence_type=kind,
            material=asked.material,
            item_code=asked.item_code,
            item_region=asked.item_region,
            subject=seal(
                subject.model_dump_json().encode(),
                case_no=case_no,
                recipient=target,
                key_id=key_id,
                recipient_public=public,
            ),
            consent=asked.consent,
            answer_by=now + answer_within,
            mandate=asked.mandate,
        )
        envelope = signed_envelope(
            self.credentials.signer(now),
            event_type=EventType.EVIDENCE_REQUESTED,
            case_no=case_no,
            step=request_step(asked.request_id),
            recipient=target,
            data=payload.model_dump(mode="json", exclude_none=True),
            now=now,
        )
        record = await conn.fetchrow(
            "INSERT INTO evidence_requests (request_id, case_no, evidence_type, material,"
            " item_code, provider_region, consent, event_id, requested_at, answer_by,"
            " holder_digest, applicant_preview)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            f" ON CONFLICT (request_id) DO NOTHING RETURNING {_COLUMNS}",
            asked.request_id,
            case_no,
            kind.value,
            asked.material,
            asked.item_code,
            target,
            asked.consent.model_dump(mode="json"),
            envelope.id,
            now,
            payload.answer_by,
            holder_digest(identifier) if identifier else None,
            asked.applicant_preview,
        )
        if record is None:
            return None
        await enqueue_in(PostgresTransaction(conn), envelope)
        log.info(
            "evidence %s: request %s for case %s sent to %s",
            self.region,
            asked.request_id,
            case_no,
            target,
        )
        return record

    async def take_answer(self, envelope: Envelope) -> str:
        """Take a provider's answer in; returns the inbox row's delivery note."""
        answer = EvidenceAnswered.model_validate(envelope.data)
        async with self.pool.acquire() as conn, conn.transaction():
            record = await conn.fetchrow(
                "SELECT case_no, provider_region, evidence_type, material, status,"
                " applicant_preview FROM evidence_requests WHERE request_id = $1 FOR UPDATE",
                answer.request_id,
            )
            if (
                record is None
                or record["case_no"] != envelope.subject
                or record["provider_region"] != envelope.senderregion
                or record["evidence_type"] != answer.evidence_type.value
            ):
                return "evidence answer to no request of this region's: kept in the inbox only"
            if record["status"] != RequestStatus.PENDING.value:
                return f"evidence answer after the request was {record['status']}"
            status, digest = await self._judge(answer, envelope)
            if status is RequestStatus.OBTAINED and record["applicant_preview"]:
                status = RequestStatus.HELD
            await conn.execute(
                "UPDATE evidence_requests SET status = $2, refusal = $3, document_sha256 = $4,"
                " document_sealed = $5, answered_at = now() WHERE request_id = $1",
                answer.request_id,
                status.value,
                answer.refusal.value if answer.refusal else None,
                digest,
                answer.document.model_dump(mode="json")
                if status in (RequestStatus.OBTAINED, RequestStatus.HELD) and answer.document
                else None,
            )
            if status is RequestStatus.OBTAINED and digest is not None:
                await _into_case_file(
                    conn,
                    envelope.subject,
                    record["material"],
                    digest,
                    evidence_ref(envelope.senderregion, answer.request_id),
                )
        log.info(
            "evidence %s: request %s answered by %s: %s",
            self.region,
            answer.request_id,
            envelope.senderregion,
            status.value,
        )
        return f"evidence answer taken: {status.value}"

    async def _judge(
        self, answer: EvidenceAnswered, envelope: Envelope
    ) -> tuple[RequestStatus, str | None]:
        if answer.outcome == "refused" or answer.document is None:
            return RequestStatus.REFUSED, None
        try:
            pdf = region_opener(self.credentials)(answer.document, envelope.subject)
        except SealError:
            return RequestStatus.UNVERIFIED, None
        digest = hashlib.sha256(pdf).hexdigest()
        if digest != answer.document_sha256:
            return RequestStatus.UNVERIFIED, None
        verdict = await verify_document(
            pdf,
            root=self.credentials.store.pinned_root(),
            directory=self.credentials.directory(),
        )
        if not verdict.valid or verdict.region != envelope.senderregion:
            return RequestStatus.UNVERIFIED, digest
        return RequestStatus.OBTAINED, digest

    async def decide(self, request_id: str, holder: str, *, use: bool) -> RequestRow:
        """The applicant's decision on evidence held for their preview: approved, it is in
        the case file as obtained by data sharing; declined, the material is theirs to hand
        in and the document is dropped. The same decision again answers as the first did."""
        wanted = RequestStatus.OBTAINED if use else RequestStatus.DECLINED
        async with self.pool.acquire() as conn, conn.transaction():
            record = await conn.fetchrow(
                f"SELECT {_COLUMNS}, holder_digest FROM evidence_requests"
                " WHERE request_id = $1 FOR UPDATE",
                request_id,
            )
            if record is None or record["holder_digest"] != holder:
                raise EvidenceNotHeld("unknown", f"no evidence request {request_id} for you")
            row = _row(record)
            if row.status is wanted and row.decided_at is not None:
                return row
            if row.status is not RequestStatus.HELD:
                raise EvidenceNotHeld(
                    "not-held", f"request {request_id} is {row.status.value}: nothing to decide"
                )
            updated = await conn.fetchrow(
                "UPDATE evidence_requests SET status = $2, decided_at = now(),"
                " document_sealed = CASE WHEN $3 THEN document_sealed END"
                f" WHERE request_id = $1 RETURNING {_COLUMNS}",
                request_id,
                wanted.value,
                use,
            )
            if use and row.document_sha256 is not None:
                await _into_case_file(
                    conn,
                    row.case_no,
                    row.material,
                    row.document_sha256,
                    evidence_ref(row.provider_region, request_id),
                )
        assert updated is not None  # the row is locked above
        log.info("evidence %s: request %s %s by the applicant", self.region, request_id, wanted)
        return _row(updated)

    async def time_out(self) -> list[RequestRow]:
        """Requests past their `answer_by` with no answer: the material goes back on paper."""
        rows = await self.pool.fetch(
            "UPDATE evidence_requests SET status = 'timed-out'"
            " WHERE status = 'pending' AND answer_by <= now()"
            f" RETURNING {_COLUMNS}"
        )
        timed_out = [_row(r) for r in rows]
        for row in timed_out:
            log.warning(
                "evidence %s: request %s for case %s had no answer from %s in time:"
                " the material is required on paper",
                self.region,
                row.request_id,
                row.case_no,
                row.provider_region,
            )
        return timed_out


async def opened_document(
    conn: asyncpg.Connection | asyncpg.Pool,
    credentials: RegionCredentials,
    request_id: str,
    *,
    holder: str | None = None,
) -> bytes | None:
    """The evidence document obtained (or held for preview) for a request, of this region's
    own records; with `holder`, only when the evidence is that person's."""
    record = await conn.fetchrow(
        "SELECT case_no, document_sealed, holder_digest FROM evidence_requests"
        " WHERE request_id = $1",
        request_id,
    )
    if record is None or record["document_sealed"] is None:
        return None
    if holder is not None and record["holder_digest"] != holder:
        return None
    sealed = record["document_sealed"]
    box = SealedBox.model_validate(json.loads(sealed) if isinstance(sealed, str) else sealed)
    return region_opener(credentials)(box, record["case_no"])
