"""Delivers stored inbox rows to the case workflows, then marks them delivered.

A Temporal signal cannot join a Postgres transaction, so delivery is at least once: the
signal carries the event id and the workflow ignores an id it has applied. A `forwarded`
event starts the processing workflow by signal-with-start, and the workflow id may never be
reused, so a redelivered `forwarded` cannot open a second processing workflow for a case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from catalog.catalog import Catalog, default_catalog
from catalog.errors import CatalogError
from events import instruments, tracing
from events.envelope import Envelope
from events.file_receiving import listed_files
from events.idle import IdlePacer
from events.models import EventType, InboundEvent
from events.pg import DATABASE_UNAVAILABLE
from events.stores.exchange import InboxKey, PendingDelivery
from events.stores.unit import Stores
from regions.codes import UnknownRegion
from regions.naming import case_workflow_id, processing_workflow_id, task_queue
from regions.policies import CasePolicies
from workflows.lifecycle import processing
from workflows.models import ProcessingStart
from workflows.processing import ProcessingWorkflow
from workflows.search import CASE_NO, CASE_STATUS, ITEM_CODE, ORIGIN_REGION, PROCESSING_REGION

log = logging.getLogger(__name__)

# Failures that mean "try again later": the service is restarting or unreachable.
_TRANSIENT: tuple[type[Exception], ...] = (RPCError, *DATABASE_UNAVAILABLE)

SIGNAL = "case_event"
_CHUNK = EventType.MATERIAL_CHUNK.value
# Evidence requests and answers go to the node's evidence handler, never to a case workflow
# (decision 0041); it returns the note the inbox row is marked delivered with.
EvidenceEvents = Callable[[Envelope], Awaitable[str]]
_EVIDENCE = frozenset({EventType.EVIDENCE_REQUESTED, EventType.EVIDENCE_ANSWERED})
# Kept where they arrive (the case file, the documents B issued); no workflow hears of them.
_KEPT_ONLY = {
    _CHUNK: "material chunk: in the case file",
    EventType.DOCUMENT_ISSUED.value: "document: in the case file",
}
_RATING_EVENTS = frozenset({EventType.RATED, EventType.RATING_ANSWERED})


def _case_attributes(forwarded: Envelope) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(CASE_NO, forwarded.subject),
            SearchAttributePair(ITEM_CODE, str(forwarded.data.get("item_code", ""))),
            SearchAttributePair(ORIGIN_REGION, forwarded.senderregion),
            SearchAttributePair(PROCESSING_REGION, forwarded.recipientregion),
            SearchAttributePair(CASE_STATUS, processing.Status.WAITING.value),
        ]
    )


class InboxDispatcher:
    def __init__(
        self,
        *,
        stores: Stores,
        client: Client,
        region: str,
        policies: CasePolicies,
        catalog: Catalog | None = None,
        ratings: Callable[[Envelope], Awaitable[str | None]] | None = None,
        evidence: EvidenceEvents | None = None,
        case_arrived: Callable[[Envelope], Awaitable[None]] | None = None,
    ) -> None:
        self._stores = stores
        # Rows a crash left undelivered are found at start; after that the sweeper looks
        # every 5 s while deliveries are left to it, and backs off to 30 s while none are.
        self._left_to_sweeper = IdlePacer(5.0, 30.0)
        self._evidence = evidence
        # Told of each `forwarded` before its workflow starts: the node's evidence handler asks
        # for the evidence the case needs (decision 0041), outside the workflow's history.
        self._case_arrived = case_arrived
        self._client = client
        self._region = region
        self._policies = policies
        self._catalog = catalog or default_catalog()
        # 好差评's events are kept in the ratings table, not told to a case workflow.
        self._ratings = ratings

    def _promised_days(self, item_code: str) -> int:
        """承诺时限 from this region's catalog item; a per-item policy override (tests) wins."""
        if item_code in self._policies.item_working_days:
            return self._policies.item_working_days[item_code]
        try:
            return self._catalog.resolve(item_code, self._region).promised_days
        except (CatalogError, UnknownRegion):
            # A's window checked the item against both catalogs; if ours changed since, the
            # case still gets a deadline rather than being dropped.
            log.warning("item %s not in %s's catalog; default time limit", item_code, self._region)
            return self._policies.promised_working_days

    def _processing_start(self, forwarded: Envelope) -> ProcessingStart:
        item_code = str(forwarded.data.get("item_code", ""))
        # The item's rules of acceptance and 补正 (decision 0026); an item gone from this
        # region's catalog gets the node's defaults, as for its time limit.
        rules: dict[str, object] = {}
        try:
            item = self._catalog.resolve(item_code, self._region)
        except (CatalogError, UnknownRegion):
            item = None
        if item is not None:
            rules = {
                "statutory_working_days": item.statutory_days,
                "supplement_working_days": item.supplement_working_days,
                "on_missed_supplement": item.on_missed_supplement.value,
            }
        return ProcessingStart.model_validate(
            {
                "case_no": forwarded.subject,
                "processing_region": self._region,
                "promised_working_days": self._promised_days(item_code),
                "policy": self._policies.for_item(item_code),
                "timings": self._policies.timings_for(item_code),
                "leg": forwarded.data.get("leg"),
                **rules,
            }
        )

    async def deliver(self, keys: list[InboxKey]) -> None:
        try:
            async with self._stores.transaction() as tx:
                rows = await tx.inbox.undelivered(keys)
        except DATABASE_UNAVAILABLE as exc:
            # The rows are stored (the bridge committed them): the sweeper delivers them.
            log.warning("inbox %s: delivery deferred to the sweeper: %s", self._region, exc)
            self._left_to_sweeper.wake()
            return
        await self._deliver_by_case(rows)
        # A chunk may have completed a file whose forwarded or 补正 event waits: let that go
        # now rather than at the next sweep (once: what still waits, the sweeper takes).
        with_chunks = sorted({r.case_no for r in rows if r.event_type == _CHUNK})
        if not with_chunks:
            return
        try:
            async with self._stores.transaction() as tx:
                waiting = await tx.inbox.undelivered(await tx.inbox.undelivered_of(with_chunks))
        except DATABASE_UNAVAILABLE as exc:
            log.warning("inbox %s: held events left to the sweeper: %s", self._region, exc)
            self._left_to_sweeper.wake()
            return
        await self._deliver_by_case([r for r in waiting if r.event_type not in _KEPT_ONLY])

    async def _deliver_by_case(self, rows: list[PendingDelivery]) -> None:
        # Cases are independent: their events go out concurrently, each case's in order.
        # A chunk or a document is kept where it arrives (events/file_receiving.py); no
        # workflow hears of it, and it never waits behind the event a file holds back.
        marks: list[tuple[InboxKey, str | None]] = [
            (r.key, _KEPT_ONLY[r.event_type]) for r in rows if r.event_type in _KEPT_ONLY
        ]
        by_case: dict[str, list[PendingDelivery]] = {}
        for row in rows:
            if row.event_type not in _KEPT_ONLY:
                by_case.setdefault(row.case_no, []).append(row)
        for delivered in await asyncio.gather(
            *(self._deliver_in_order(case_rows) for case_rows in by_case.values())
        ):
            marks.extend(delivered)
        if not marks:
            return
        # One commit for the whole batch. Should it fail, the sweeper delivers these rows
        # again and each workflow drops an event id it has already taken (as after a crash
        # between a signal and its mark).
        try:
            async with self._stores.transaction() as tx:
                await tx.inbox.mark_delivered(marks)
        except DATABASE_UNAVAILABLE as exc:
            log.warning("inbox %s: deliveries left to the sweeper: %s", self._region, exc)
            self._left_to_sweeper.wake()

    async def _deliver_in_order(
        self, rows: list[PendingDelivery]
    ) -> list[tuple[InboxKey, str | None]]:
        """Deliver one case's events in order; the rows delivered, with their notes."""
        delivered: list[tuple[InboxKey, str | None]] = []
        for row in rows:
            try:
                envelope = Envelope.model_validate_json(row.envelope)
                if await self._file_incomplete(envelope):
                    # The workflow hears of the case (B's acceptance clock starts) or of the
                    # 补正 only once every file it lists is whole: this and the case's later
                    # events wait, in order, for the chunk that completes it.
                    return delivered
                # Inside the bridge's consumer span context: the workflow joins the trace.
                with tracing.dispatch_span(row.trace_context, row.event_id, row.event_type):
                    delivered.append((row.key, await self._deliver_one(envelope)))
            except _TRANSIENT as exc:
                # Temporal or the database is unreachable: this case's remaining events stay
                # undelivered, in order, for the sweeper; other cases are not held up.
                log.warning(
                    "inbox %s: delivery of %s deferred to the sweeper: %s",
                    self._region,
                    row.event_id,
                    exc,
                )
                self._left_to_sweeper.wake()
                return delivered
            except Exception as exc:
                # Not an outage: this row will never be delivered as it is. Retrying it every
                # sweep would hide it; it is marked for operators instead, and the case's
                # later events still go.
                log.exception("inbox %s: event %s is undeliverable", self._region, row.event_id)
                instruments.events_undeliverable.add(1, {"region": self._region})
                with contextlib.suppress(*DATABASE_UNAVAILABLE):
                    async with self._stores.transaction() as tx:
                        await tx.inbox.mark_undeliverable(
                            row.key, f"undeliverable: {type(exc).__name__}"
                        )
        return delivered

    async def _file_incomplete(self, envelope: Envelope) -> bool:
        digests = [m.sha256 for m in listed_files(envelope)]
        if not digests:
            return False
        async with self._stores.transaction() as tx:
            return bool(await tx.files.missing(envelope.subject, digests))

    async def sweep(self, older_than_seconds: float = 5.0) -> int:
        """Deliver rows a crash left undelivered. Returns how many were found."""
        async with self._stores.transaction() as tx:
            found = await tx.inbox.stale_undelivered(older_than_seconds, 500)
        if found:
            await self.deliver(found)
        return len(found)

    async def run_sweeper(self) -> None:
        while True:
            found = 0
            try:
                found = await self.sweep()
            except _TRANSIENT as exc:
                log.warning("inbox sweep %s failed, will retry: %s", self._region, exc)
            await self._left_to_sweeper.wait(found_work=found > 0)

    async def _deliver_one(self, envelope: Envelope) -> str | None:
        if envelope.type in _EVIDENCE:
            if self._evidence is None:
                return "evidence event: this node takes no evidence events"
            return await self._evidence(envelope)
        event = InboundEvent(
            event_id=envelope.id,
            type=envelope.type,
            sender_region=envelope.senderregion,
            time=envelope.time,
            data=envelope.data,
        )
        case_no = envelope.subject
        if envelope.type in _RATING_EVENTS:
            if self._ratings is None:
                return "no ratings desk at this node; kept in inbox only"
            return await self._ratings(envelope)
        if envelope.type is EventType.FORWARDED:
            if self._case_arrived is not None:
                await self._case_arrived(envelope)
            try:
                await self._client.start_workflow(
                    ProcessingWorkflow.run,
                    self._processing_start(envelope),
                    id=processing_workflow_id(case_no),
                    task_queue=task_queue(self._region),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    start_signal=SIGNAL,
                    start_signal_args=[event],
                    search_attributes=_case_attributes(envelope),
                )
            except WorkflowAlreadyStartedError:
                return "processing workflow already closed; event kept in inbox only"
            return None
        workflow_id = case_workflow_id(case_no, self._region)
        try:
            await self._client.get_workflow_handle(workflow_id).signal(SIGNAL, event)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            log.warning(
                "inbox %s: no running workflow %s for event %s",
                self._region,
                workflow_id,
                envelope.id,
            )
            return f"no running workflow {workflow_id}"
        return None
