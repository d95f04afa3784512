"""Case activities: the database writes of workflow steps, each idempotent per case and step.

A workflow commits the writes of the steps it took since it last waited (effects, outgoing
events, B's registration of a case) and the status the case rests in, in order, in ONE
transaction (the outbox): a step's case change and the event or effect announcing it commit
together. Event ids derive from case number and step and effects are keyed per case, so a
retried commit finds its own earlier rows instead of writing second ones.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import asyncpg
import rfc8785
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.case_files import send_files
from activities.contracts import (
    AddMaterials,
    ApplyEffect,
    CommitSteps,
    Committed,
    ForwardCase,
    OpenLeg,
    RegisterForwarded,
    SendDecision,
    SendEvent,
)
from activities.documents import DocumentIssuer, IssuedDocument, Occasion
from activities.effects import EffectActivities
from effects import orders
from effects.settings import EffectRouting
from events.credentials import RegionCredentials
from events.envelope import Envelope, event_id_for
from events.evidence import evidence_ref
from events.models import (
    PAYLOAD_MODELS,
    CaseDecided,
    CaseForwarded,
    Consent,
    DocumentIssued,
    EventType,
    MaterialRef,
    SealedBox,
    SupplementProvided,
    accepting_region_of,
)
from events.outbox import (
    DEFAULT_ENVELOPE_BUDGET,
    EnvelopeTooLarge,
    already_enqueued,
    enqueue,
    signed_envelope,
)
from events.pg import Conn
from events.sealing import open_box, seal
from events.stores.cases import NewCase
from events.stores.postgres import PostgresCaseStore
from events.trust import sealing_key

# The failure type a workflow sees when a step's event is over the outbox's size budget.
ENVELOPE_TOO_LARGE = "EnvelopeTooLarge"


class CaseActivities:
    def __init__(
        self,
        pool: asyncpg.Pool,
        credentials: RegionCredentials,
        *,
        envelope_budget: int = DEFAULT_ENVELOPE_BUDGET,
        documents: DocumentIssuer | None = None,
        routing: EffectRouting | None = None,
        effects: EffectActivities | None = None,
    ) -> None:
        self._pool = pool
        self._routing = routing or EffectRouting()
        self._effects = effects
        self._documents = documents
        self._credentials = credentials
        self._region = credentials.region
        self._envelope_budget = envelope_budget

    @activity.defn
    async def commit_steps(self, request: CommitSteps) -> Committed | None:
        """Apply a workflow's writes in order, then its status, in one transaction."""
        await self._commit(request)
        return await self._settle_inline(request)

    @activity.defn
    async def forward_case(self, request: CommitSteps) -> Committed | None:
        """`commit_steps` for the commit that forwards a case (it holds a `ForwardCase`): its own
        activity name marks, in a case's trace, where the case left the accepting region."""
        await self._commit(request)
        return await self._settle_inline(request)

    async def _settle_inline(self, request: CommitSteps) -> Committed | None:
        """Once the orders are committed, the effects whose adapter reaches no outside system
        are carried out here, not by an activity of their own: for a node whose effects all
        go to the log, that is three activities a case fewer (decision 0044). A retry finds
        them done and answers the same."""
        if self._effects is None:
            return None
        keys = tuple(
            w.key
            for w in request.writes
            if isinstance(w, ApplyEffect)
            and self._effects.inline(self._routing.adapter_for(w.effect.value))
        )
        settled = await self._effects.settle_inline(request.case_no, keys) if keys else ()
        return Committed(settled=settled) if settled else None

    async def _commit(self, request: CommitSteps) -> None:
        case_no, now = request.case_no, datetime.now(UTC)
        effects = frozenset(w.effect.value for w in request.writes if isinstance(w, ApplyEffect))
        async with self._pool.acquire() as conn, conn.transaction():
            for write in request.writes:
                if isinstance(write, ApplyEffect):
                    await self._apply_effect(conn, case_no, write)
                    detail = {"detail": write.detail}
                    effect = Occasion(
                        case_no, "effect", write.effect.value, write.key, now, detail, effects
                    )
                    await self._issue(conn, effect)
                elif isinstance(write, SendEvent):
                    await self._send_event(conn, case_no, write, now)
                    kind = write.event_type.value
                    sent = Occasion(case_no, "event", kind, write.step, now, write.data, effects)
                    await self._issue(conn, sent)
                elif isinstance(write, ForwardCase):
                    await self._forward_case(conn, case_no, write, now)
                elif isinstance(write, AddMaterials):
                    await self._add_materials(conn, case_no, write)
                elif isinstance(write, SendDecision):
                    await self._send_decision(conn, case_no, write, now)
                elif isinstance(write, OpenLeg):
                    await self._open_leg(conn, case_no, write, now)
                else:
                    await self._register_forwarded(conn, case_no, write)
            # The status goes last and whenever it is the newest, so a retry that finds its
            # events already written still leaves the case where the workflow is, and a stale
            # attempt that runs after a newer commit leaves it there too.
            recorded = request.status is None or await PostgresCaseStore(conn).set_status(
                case_no, request.status, request.steps
            )
            if not recorded:
                raise ApplicationError(f"case {case_no} is not recorded in {self._region}")

    async def _issue(self, conn: Conn, occasion: Occasion) -> IssuedDocument | None:
        """The step's document, if it issues one; a document the processing region issues
        goes to the accepting region's window too (its file in chunks, like a material)."""
        if self._documents is None:
            return None
        issued = await self._documents.issue(conn, occasion)
        if issued is None or accepting_region_of(occasion.case_no) == self._region:
            return issued
        payload = DocumentIssued(
            case_no=occasion.case_no,
            number=issued.number,
            doc_type=issued.doc_type,
            title=issued.title,
            issued_at=issued.issued_at,
            document=issued.file,
        )
        origin = accepting_region_of(occasion.case_no)
        step = f"document/{issued.number}"
        if not await already_enqueued(conn, event_id_for(occasion.case_no, step, self._region)):
            await self._write_event(
                conn,
                EventType.DOCUMENT_ISSUED,
                occasion.case_no,
                step,
                origin,
                payload.model_dump(mode="json"),
                now=occasion.at,
            )
        await self._send_files(conn, occasion.case_no, (issued.file,), origin, occasion.at)
        return issued

    async def _add_materials(self, conn: Conn, case_no: str, request: AddMaterials) -> None:
        """补正 materials join the case file; one already there (same digest) is not added again,
        so a retried commit changes nothing."""
        await PostgresCaseStore(conn).add_materials(
            case_no, [m.model_dump(mode="json") for m in request.materials]
        )

    async def _forward_case(
        self, conn: Conn, case_no: str, request: ForwardCase, now: datetime
    ) -> None:
        """Seal the applicant for the processing region and write the `forwarded` event with
        the case file the workflow holds (the application's materials and any 补正)."""
        case = await PostgresCaseStore(conn).get_for_update(case_no)
        if case is None:
            raise ApplicationError(
                f"case {case_no} is not recorded in {self._region}", non_retryable=True
            )
        if await already_enqueued(conn, event_id_for(case_no, "forwarded", self._region)):
            return
        recipient = case.processing_region
        payload = CaseForwarded(
            case_no=case_no,
            item_code=case.item_code,
            item_version=case.item_version,
            origin_region=self._region,
            processing_region=recipient,
            applicant=self._reseal(case.applicant_sealed, case_no, case_no, recipient, now),
            materials=request.materials
            or tuple(MaterialRef.model_validate(m) for m in case.materials),
            fee_fen=case.fee_fen,
            mode=case.mode,
            leg=request.leg,
            evidence_consent=None
            if case.evidence_consent is None
            else Consent.model_validate(case.evidence_consent),
        )
        await self._write_event(
            conn,
            EventType.FORWARDED,
            case_no,
            "forwarded",
            recipient,
            # Without consent the field is left out: a node that predates it reads the event.
            payload.model_dump(
                mode="json",
                exclude={"evidence_consent"} if payload.evidence_consent is None else None,
            ),
            now=now,
        )
        await self._send_files(conn, case_no, payload.materials, recipient, now)

    async def _open_leg(
        self, conn: Conn, route_case_no: str, request: OpenLeg, now: datetime
    ) -> None:
        """A 多地联办 leg as a case of the accepting region: the route's applicant (sealed for
        this region, as kept) and case file, plus the documents the legs it waits for issued,
        complete in this region's file store, so they travel on with the leg's `forwarded`."""
        store = PostgresCaseStore(conn)
        route = await store.get(route_case_no)
        if route is None:
            raise ApplicationError(
                f"case {route_case_no} is not recorded in {self._region}", non_retryable=True
            )
        issued = await conn.fetch(
            "SELECT name, sha256, size, media_type, chunk_digests FROM case_files"
            " WHERE case_no = ANY($1::text[]) AND kind = 'document' AND complete_at IS NOT NULL"
            " ORDER BY case_no, name",
            list(request.after),
        )
        passed = [
            MaterialRef(
                name=row["name"],
                sha256=row["sha256"],
                ref=f"sha256:{row['sha256']}",
                size=row["size"],
                media_type=row["media_type"],
                chunks=tuple(row["chunk_digests"]),
            ).model_dump(mode="json")
            for row in issued
        ]
        # Sealed data names its case: the leg gets the applicant sealed under its own number.
        sealed = self._reseal(
            route.applicant_sealed, route_case_no, request.case_no, self._region, now
        )
        await store.add(
            NewCase(
                case_no=request.case_no,
                role="origin",
                item_code=route.item_code,
                item_version=route.item_version,
                origin_region=route.origin_region,
                processing_region=request.processing_region,
                applicant_sealed=sealed.model_dump(mode="json"),
                materials=[*route.materials, *passed],
                fee_fen=0,
                mode=route.mode,
                applicant_subject=route.applicant_subject,
                evidence_consent=route.evidence_consent,
            )
        )

    def _reseal(
        self, kept: dict[str, Any], kept_as: str, case_no: str, recipient: str, now: datetime
    ) -> SealedBox:
        """The applicant this region keeps (sealed for itself under case `kept_as`), sealed
        for `recipient` under `case_no`."""
        box = SealedBox.model_validate(kept)
        applicant = open_box(
            box, case_no=kept_as, private_key=self._credentials.own_sealing_key(box.key_id)
        )
        key_id, public = sealing_key(self._credentials.directory(), recipient, now)
        return seal(
            applicant, case_no=case_no, recipient=recipient, key_id=key_id, recipient_public=public
        )

    async def _register_forwarded(
        self, conn: Conn, case_no: str, request: RegisterForwarded
    ) -> None:
        """B records the case from the stored `forwarded` event; the applicant stays sealed."""
        # Only the accepting region may forward, so the sender is known from the number.
        raw = await conn.fetchval(
            "SELECT envelope FROM inbox WHERE sender_region = $1 AND event_id = $2",
            accepting_region_of(case_no),
            request.event_id,
        )
        if raw is None:
            raise ApplicationError(
                f"event {request.event_id} is not in the inbox", non_retryable=True
            )
        forwarded = CaseForwarded.model_validate(Envelope.model_validate_json(bytes(raw)).data)
        if forwarded.case_no != case_no:
            raise ApplicationError(
                f"event {request.event_id} is not about case {case_no}", non_retryable=True
            )
        # Evidence this region asked for as the case arrived (decision 0041) may be in before
        # the case is recorded: it joins the case file here, as it would have on arrival.
        obtained = await conn.fetch(
            "SELECT material, document_sha256, provider_region, request_id"
            " FROM evidence_requests WHERE case_no = $1 AND status = 'obtained'"
            " ORDER BY answered_at, request_id",
            case_no,
        )
        shared = [
            {
                "name": r["material"],
                "sha256": r["document_sha256"],
                "ref": evidence_ref(r["provider_region"], r["request_id"]),
            }
            for r in obtained
        ]
        await PostgresCaseStore(conn).add(
            NewCase(
                case_no=forwarded.case_no,
                role="processing",
                item_code=forwarded.item_code,
                item_version=forwarded.item_version,
                origin_region=forwarded.origin_region,
                processing_region=forwarded.processing_region,
                applicant_sealed=forwarded.applicant.model_dump(mode="json"),
                materials=[*(m.model_dump(mode="json") for m in forwarded.materials), *shared],
                fee_fen=forwarded.fee_fen,
                mode=forwarded.mode,
            )
        )

    async def _send_decision(
        self, conn: Conn, case_no: str, request: SendDecision, now: datetime
    ) -> None:
        """Issue the decision document (kept in B; only its digest travels) and tell A."""
        if await already_enqueued(conn, event_id_for(case_no, request.step, self._region)):
            return
        decided = {"case_no": case_no, "outcome": request.outcome, "reason": request.reason}
        issued = await self._issue(
            conn,
            Occasion(case_no, "event", EventType.DECIDED.value, request.step, now, decided),
        )
        if issued is not None:
            digest = issued.file.sha256  # the signed 决定书 the applicant will hold
        else:  # a node without a document issuer: the digest of the decision's terms
            terms = {**decided, "issued_by": self._region}
            digest = hashlib.sha256(rfc8785.dumps(terms)).hexdigest()
        payload = CaseDecided(
            case_no=case_no,
            outcome=request.outcome,
            reason=request.reason,
            decision_digest=digest,
        )
        await self._write_event(
            conn,
            EventType.DECIDED,
            case_no,
            request.step,
            request.origin_region,
            payload.model_dump(mode="json"),
            now=now,
        )

    async def _send_event(
        self, conn: Conn, case_no: str, request: SendEvent, now: datetime
    ) -> None:
        """Write a lifecycle event to the outbox, once per case and step."""
        data = dict(request.data)
        payload_model = PAYLOAD_MODELS.get(request.event_type)
        if payload_model is not None:
            try:
                data = payload_model.model_validate(request.data).model_dump(mode="json")
            except ValidationError as exc:
                raise ApplicationError(
                    f"{request.event_type.value} payload is invalid: {exc.error_count()} errors",
                    non_retryable=True,
                ) from exc
        if not await already_enqueued(conn, event_id_for(case_no, request.step, self._region)):
            await self._write_event(
                conn, request.event_type, case_no, request.step, request.recipient, data, now=now
            )
        if request.event_type is EventType.SUPPLEMENT_PROVIDED:
            provided = SupplementProvided.model_validate(data)
            await self._send_files(conn, case_no, provided.materials, request.recipient, now)

    async def _send_files(
        self,
        conn: Conn,
        case_no: str,
        materials: tuple[MaterialRef, ...],
        recipient: str,
        now: datetime,
    ) -> None:
        """The bytes of the materials an event lists, in chunks, with that event."""

        async def write(
            event_type: EventType, case: str, step: str, to: str, data: dict[str, object]
        ) -> None:
            await self._write_event(conn, event_type, case, step, to, data, now=now)

        await send_files(conn, self._credentials, case_no, materials, recipient, now, write)

    async def _apply_effect(self, conn: Conn, case_no: str, request: ApplyEffect) -> bool:
        """Order an effect once per case and key; True when this call did it.

        The order is the instruction to the system that carries the effect out (payment,
        courier, SMS), routed to that system's adapter by the node's settings; a retry, resumed
        worker or replay finds it and orders nothing twice. The workflow then asks the effect
        activity to carry it out (activities/effects.py).
        """
        return await orders.place(
            conn,
            case_no=case_no,
            key=request.key,
            effect=request.effect.value,
            amount_fen=request.amount_fen,
            detail=request.detail,
            adapter=self._routing.adapter_for(request.effect.value),
        )

    async def _write_event(
        self,
        conn: Conn,
        event_type: EventType,
        case_no: str,
        step: str,
        recipient: str,
        data: dict[str, object],
        *,
        now: datetime,
    ) -> None:
        """The outbox row and its message-log entry, in the caller's transaction."""
        envelope = self._envelope(event_type, case_no, step, recipient, data, now)
        try:
            await enqueue(conn, envelope, budget=self._envelope_budget)
        except EnvelopeTooLarge as exc:
            # A retry builds the same bytes: without this the step would be retried forever.
            raise ApplicationError(str(exc), type=ENVELOPE_TOO_LARGE, non_retryable=True) from exc

    def _envelope(
        self,
        event_type: EventType,
        case_no: str,
        step: str,
        recipient: str,
        data: dict[str, object],
        now: datetime,
    ) -> Envelope:
        return signed_envelope(
            self._credentials.signer(now),
            event_type=event_type,
            case_no=case_no,
            step=step,
            recipient=recipient,
            data=data,
            now=now,
        )
