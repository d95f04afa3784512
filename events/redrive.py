"""Re-driving a quarantined record: verify its stored bytes again, and if they now pass
(a directory update listed the key, say), store them as if just received.

The inbox row, the receipt and the quarantine row's `redriven_at` commit together, so a
record is redriven once; if verification still fails nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from events.envelope import Envelope
from events.inbox import IncomingRecord, Stored, Verifier, store_verified
from events.pg import Conn
from events.receipts import SignerAt, needs_receipt
from events.stores.postgres import PostgresStores
from events.stores.unit import Stores


class NotRedrivable(Exception):
    """No such quarantine row, or it was redriven before."""


@dataclass(frozen=True)
class Redriven:
    stored: Stored
    envelope: Envelope

    @property
    def dispatchable(self) -> bool:
        return self.stored is Stored.ACCEPTED and needs_receipt(self.envelope.type)


async def redrive_in(
    stores: Stores, quarantine_id: int, verify: Verifier, region: str, signer_at: SignerAt
) -> Redriven:
    """Raises Rejected (with the reason it still fails) or NotRedrivable; changes nothing
    then."""
    async with stores.transaction() as tx:
        found = await tx.quarantine.take(quarantine_id)
        if found is None:
            raise NotRedrivable(f"no quarantined record {quarantine_id}")
        if found.redriven_at is not None:
            raise NotRedrivable(f"record {quarantine_id} was redriven at {found.redriven_at}")
        record = IncomingRecord(
            topic=found.topic,
            partition=found.partition,
            offset=found.offset,
            value=found.raw,
            headers=tuple((key, bytes.fromhex(value)) for key, value in found.headers),
        )
        envelope = verify(record.value)
        stored = await store_verified(tx, record, envelope, region, signer_at)
        await tx.quarantine.mark_redriven(quarantine_id, f"{stored.value} as event {envelope.id}")
    return Redriven(stored, envelope)


async def redrive(
    conn: Conn, quarantine_id: int, verify: Verifier, region: str, signer_at: SignerAt
) -> Redriven:
    """`redrive_in` the database behind `conn`."""
    return await redrive_in(PostgresStores.on(conn), quarantine_id, verify, region, signer_at)
