"""Reading what one region knows about a case: workflow progress and Updates (Temporal), the
case row, message log and effects (Postgres). Read-only; nothing here changes a case."""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Literal

import asyncpg
from pydantic import ValidationError
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from events.envelope import Envelope
from events.signing import signature_valid
from events.stores.postgres import PostgresCaseStore
from events.tracing import trace_id_of
from events.trust import TrustDirectory, signing_key_any_time
from operators.model import EffectRecord, EnvelopeRecord, RegionRecords, UpdateCall
from regions.naming import intake_workflow_id, processing_workflow_id
from workflows.models import CaseProgress
from workflows.search import PROCESSING_REGION

log = logging.getLogger(__name__)

_LOG_FOR_CASE = """
SELECT m.seq, m.direction, m.event_id, m.envelope, m.logged_at,
       COALESCE(o.trace_context, i.trace_context) AS trace_context
FROM message_log m
LEFT JOIN outbox o ON m.direction = 'sent' AND o.event_id = m.event_id
LEFT JOIN inbox i ON m.direction = 'accepted' AND i.event_id = m.event_id
WHERE o.case_no = $1 OR i.case_no = $1
ORDER BY m.seq
"""


def signature_status(raw: bytes, directory: TrustDirectory) -> tuple[Envelope | None, str]:
    """As `tongban audit verify` checks it: the sender's key at any time, then the signature."""
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError:
        return None, "envelope does not parse"
    key = signing_key_any_time(directory, envelope.senderregion, envelope.keyid)
    if key is None:
        return envelope, f"key {envelope.keyid} of {envelope.senderregion} not in the directory"
    if not signature_valid(envelope, key):
        return envelope, f"signature by {envelope.keyid} does not verify"
    return envelope, "valid"


async def _envelopes(
    conn: asyncpg.Connection, region: str, case_no: str, directory: TrustDirectory
) -> tuple[EnvelopeRecord, ...]:
    records = []
    for row in await conn.fetch(_LOG_FOR_CASE, case_no):
        envelope, status = signature_status(bytes(row["envelope"]), directory)
        if envelope is None:
            continue  # unparseable rows are the audit command's business, not a timeline's
        records.append(
            EnvelopeRecord(
                region=region,
                seq=row["seq"],
                direction=row["direction"],
                event_id=row["event_id"],
                event_type=envelope.type.value,
                sender=envelope.senderregion,
                recipient=envelope.recipientregion,
                at=envelope.time,
                logged_at=row["logged_at"],
                signature=status,
                trace_id=trace_id_of(row["trace_context"]),
            )
        )
    return tuple(records)


async def _progress(client: Client, workflow_id: str) -> CaseProgress | None:
    try:
        progress: CaseProgress = await client.get_workflow_handle(workflow_id).query(
            "progress", result_type=CaseProgress
        )
    except WorkflowQueryFailedError as exc:
        # A worker that cannot replay the history (e.g. incompatible code): the message logs
        # and effects still tell the story, so show them rather than nothing.
        log.warning("progress of %s not available: %s", workflow_id, exc)
        return None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return progress


async def _updates(client: Client, workflow_id: str) -> tuple[UpdateCall, ...]:
    """Accepted Updates of the current run (a continued-as-new case shows its latest run's)."""
    calls = []
    try:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.HasField("workflow_execution_update_accepted_event_attributes"):
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                calls.append(
                    UpdateCall(
                        name=request.input.name,
                        at=event.event_time.ToDatetime(tzinfo=UTC),
                        identity=request.meta.identity,
                    )
                )
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
    return tuple(calls)


async def region_records(
    *,
    client: Client,
    conn: asyncpg.Connection,
    region: str,
    role: Literal["origin", "processing"],
    case_no: str,
    directory: TrustDirectory,
) -> RegionRecords:
    workflow_id = (intake_workflow_id if role == "origin" else processing_workflow_id)(case_no)
    case = await PostgresCaseStore(conn).get(case_no)
    effects = await conn.fetch(
        "SELECT key, effect, amount_fen, detail, ordered_at AS done_at, adapter, state"
        " FROM effect_orders WHERE case_no = $1 ORDER BY ordered_at, id",
        case_no,
    )
    return RegionRecords(
        region=region,
        role=role,
        workflow_id=workflow_id,
        progress=await _progress(client, workflow_id),
        updates=await _updates(client, workflow_id),
        envelopes=await _envelopes(conn, region, case_no, directory),
        effects=tuple(EffectRecord(region=region, **dict(effect)) for effect in effects),
        item_code=case.item_code if case else None,
        case_status=case.status if case else None,
        mode=case.mode if case else None,
    )


async def processing_region_of(
    conn: asyncpg.Connection, client: Client, case_no: str
) -> str | None:
    """B, from A's `cases` row, else from the intake workflow's search attributes."""
    found = await PostgresCaseStore(conn).processing_region(case_no)
    if found:
        return str(found)
    try:
        description = await client.get_workflow_handle(intake_workflow_id(case_no)).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description.typed_search_attributes.get(PROCESSING_REGION)
