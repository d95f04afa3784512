"""The hash-chained message log: every envelope a node sends or accepts, in order.

Each row's hash covers the previous row's hash, its direction, event id and envelope bytes,
so changing, removing or reordering any row breaks the chain from that row on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from events.pg import Conn

GENESIS = bytes(32)
# One chain per database: appends take this transaction-scoped lock so two concurrent
# transactions cannot both link to the same previous row.
_APPEND_LOCK = 0x7B_6C_6F_67  # "{log"


def chain_hash(prev_hash: bytes, direction: str, event_id: str, envelope: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in (
        prev_hash,
        direction.encode(),
        event_id.encode(),
        hashlib.sha256(envelope).digest(),
    ):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.digest()


async def append(conn: Conn, direction: str, event_id: str, envelope: bytes) -> None:
    """Append inside the caller's transaction; a retried step appends nothing twice."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
    # Same bytes, same row: event ids are unique per sender only, so two regions' accepted
    # events may share an id and must both be logged.
    exists = await conn.fetchval(
        "SELECT 1 FROM message_log WHERE direction = $1 AND event_id = $2"
        " AND sha256(envelope) = sha256($3::bytea)",
        direction,
        event_id,
        envelope,
    )
    if exists:
        return
    prev = await conn.fetchval("SELECT hash FROM message_log ORDER BY seq DESC LIMIT 1")
    prev_hash = bytes(prev) if prev is not None else GENESIS
    await conn.execute(
        "INSERT INTO message_log (direction, event_id, envelope, prev_hash, hash)"
        " VALUES ($1, $2, $3, $4, $5)",
        direction,
        event_id,
        envelope,
        prev_hash,
        chain_hash(prev_hash, direction, event_id, envelope),
    )


@dataclass(frozen=True)
class LogHead:
    seq: int
    hash: bytes


async def head(conn: Conn) -> LogHead | None:
    """The newest row the caller's transaction sees: committed, or appended by that same
    transaction, so whatever is told about it commits together with the row itself."""
    row = await conn.fetchrow("SELECT seq, hash FROM message_log ORDER BY seq DESC LIMIT 1")
    return None if row is None else LogHead(row["seq"], bytes(row["hash"]))


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


async def verify_chain(conn: Conn) -> ChainBreak | None:
    """The first row whose links do not hold, or None when the whole chain is intact."""
    prev_hash = GENESIS
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(
            "SELECT seq, direction, event_id, envelope, prev_hash, hash"
            " FROM message_log ORDER BY seq"
        ):
            if bytes(row["prev_hash"]) != prev_hash:
                return ChainBreak(row["seq"], "does not link to the previous row")
            expected = chain_hash(
                prev_hash, row["direction"], row["event_id"], bytes(row["envelope"])
            )
            if bytes(row["hash"]) != expected:
                return ChainBreak(row["seq"], "content does not match its hash")
            prev_hash = expected
    return None
