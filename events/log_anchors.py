"""Cross-anchoring: the heads of peers' message logs, as their signed receipts state them.

Each receipt a region writes carries the seq and hash of its own message-log head at that
moment; the peer that accepts the receipt keeps the pair. The hash chain alone cannot show
that the newest rows of a log were deleted (what is left still links), but the peers then
hold a head the log no longer has. Neither side can rewrite its history unseen: the anchor
came inside an envelope the peer logged in its own chain, signed by the anchored region.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from events.pg import Conn


@dataclass(frozen=True)
class Anchor:
    region: str  # whose log
    seq: int
    hash: bytes
    holder: str  # the peer that keeps it
    receipt_event_id: str
    received_at: datetime
    # That receipt as the holder logged it: what makes the anchor evidence, not a claim.
    # Event ids are unique per sender only, so other senders' envelopes with the same id may
    # be logged too: every accepted envelope with that id.
    receipts: tuple[bytes, ...]


async def record(conn: Conn, region: str, seq: int, hash_: bytes, receipt_event_id: str) -> None:
    """Keep a head `region` stated, in the caller's (inbox) transaction; known heads stay as
    first recorded."""
    await conn.execute(
        "INSERT INTO log_anchors (region, seq, hash, receipt_event_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (region, seq, hash) DO NOTHING",
        region,
        seq,
        hash_,
        receipt_event_id,
    )


async def held(conn: Conn, holder: str, region: str) -> list[Anchor]:
    """Every head of `region`'s log that the peer behind `conn` (region `holder`) keeps."""
    rows = await conn.fetch(
        "SELECT a.seq, a.hash, a.receipt_event_id, a.received_at,"
        "  array_remove(array_agg(m.envelope), NULL) AS receipts"
        " FROM log_anchors a LEFT JOIN message_log m"
        "  ON m.direction = 'accepted' AND m.event_id = a.receipt_event_id"
        " WHERE a.region = $1"
        " GROUP BY a.seq, a.hash, a.receipt_event_id, a.received_at ORDER BY a.seq",
        region,
    )
    return [
        Anchor(
            region=region,
            seq=r["seq"],
            hash=bytes(r["hash"]),
            holder=holder,
            receipt_event_id=r["receipt_event_id"],
            received_at=r["received_at"],
            receipts=tuple(bytes(e) for e in r["receipts"]),
        )
        for r in rows
    ]
