"""Re-driving a quarantined record: verify its stored bytes again, and if they now pass
(a directory update listed the key, say), store them as if just received.

The inbox row, the receipt and the quarantine row's `redriven_at` commit together, so a
record is redriven once; if verification still fails nothing changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from events.envelope import Envelope
from events.inbox import IncomingRecord, Stored, Verifier, store_verified
from events.pg import Conn
from events.receipts import SignerAt, needs_receipt


class NotRedrivable(Exception):
    """No such quarantine row, or it was redriven before."""


@dataclass(frozen=True)
class Redriven:
    stored: Stored
    envelope: Envelope

    @property
    def dispatchable(self) -> bool:
        return self.stored is Stored.ACCEPTED and needs_receipt(self.envelope.type)


async def redrive(
    conn: Conn, quarantine_id: int, verify: Verifier, region: str, signer_at: SignerAt
) -> Redriven:
    """Raises Rejected (with the reason it still fails) or NotRedrivable; changes nothing
    then."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT raw, headers, topic, kafka_partition, kafka_offset, redriven_at"
            " FROM quarantine WHERE id = $1 FOR UPDATE",
            quarantine_id,
        )
        if row is None:
            raise NotRedrivable(f"no quarantined record {quarantine_id}")
        if row["redriven_at"] is not None:
            raise NotRedrivable(f"record {quarantine_id} was redriven at {row['redriven_at']}")
        headers = row["headers"]
        if isinstance(headers, str):  # a connection without the JSON codec
            headers = json.loads(headers)
        record = IncomingRecord(
            topic=row["topic"],
            partition=row["kafka_partition"],
            offset=row["kafka_offset"],
            value=bytes(row["raw"]),
            headers=tuple((key, bytes.fromhex(value)) for key, value in headers),
        )
        envelope = verify(record.value)
        stored = await store_verified(conn, record, envelope, region, signer_at)
        await conn.execute(
            "UPDATE quarantine SET redriven_at = now(), redrive_note = $2 WHERE id = $1",
            quarantine_id,
            f"{stored.value} as event {envelope.id}",
        )
    return Redriven(stored, envelope)
