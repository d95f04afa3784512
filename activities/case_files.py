"""The accepting region sends a case's files: every chunk of every material the processing
region does not hold yet, sealed for it, each in its own signed event.

Written in the same transaction as the forwarded or 补正 event that lists the materials, so
the manifest and its bytes are in the outbox together or not at all. A chunk's event id
derives from the material's digest and the chunk's position: a retried commit, or a
material listed again in a later 补正, finds its chunks enqueued and writes none twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from temporalio.exceptions import ApplicationError

from events.credentials import RegionCredentials
from events.envelope import event_id_for
from events.materials import chunk_step, sealed_chunks
from events.models import EventType, MaterialRef
from events.outbox import already_enqueued
from events.pg import Conn
from events.stores.files_postgres import PostgresBlobs
from events.trust import sealing_key

# (event type, case number, step, recipient, payload) -> written to the outbox
WriteEvent = Callable[[EventType, str, str, str, dict[str, object]], Awaitable[None]]


async def send_files(
    conn: Conn,
    credentials: RegionCredentials,
    case_no: str,
    materials: Iterable[MaterialRef],
    recipient: str,
    now: datetime,
    write: WriteEvent,
) -> int:
    """Enqueue the chunks of each material with bytes; returns how many were written."""
    region = credentials.region
    written = 0
    for material in materials:
        if not material.has_file:
            continue  # declared only: no bytes stand behind it
        last = chunk_step(material.sha256, len(material.chunks) - 1)
        if await already_enqueued(conn, event_id_for(case_no, last, region)):
            continue  # sent with an earlier event of this case (chunks go in order)
        content = await PostgresBlobs(conn).get(material.sha256)
        if content is None:
            # The window stores the bytes before the workflow hears of the material: a
            # missing blob is a defect to see, retried until someone puts it right.
            raise ApplicationError(
                f"case {case_no}: material {material.sha256[:12]} has no bytes in {region}"
            )
        key_id, recipient_key = sealing_key(credentials.directory(), recipient, now)
        for step, chunk in sealed_chunks(
            case_no,
            material,
            content,
            recipient=recipient,
            key_id=key_id,
            recipient_public=recipient_key,
        ):
            if not await already_enqueued(conn, event_id_for(case_no, step, region)):
                data = chunk.model_dump(mode="json")
                await write(EventType.MATERIAL_CHUNK, case_no, step, recipient, data)
                written += 1
    return written
