"""The hash-chained message log: every envelope a node sends or accepts, in order.

Each row's hash covers the previous row's hash, its direction, event id and envelope bytes,
so changing, removing or reordering any row breaks the chain from that row on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from events.pg import Conn
from events.stores.exchange import LogHead, LogRow, MessageLog
from events.stores.postgres import PostgresMessageLog

__all__ = [
    "GENESIS",
    "ChainBreak",
    "LogHead",
    "append",
    "append_to",
    "chain_hash",
    "head",
    "verify_chain",
]

GENESIS = bytes(32)


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


async def append_to(log: MessageLog, direction: str, event_id: str, envelope: bytes) -> None:
    """Append inside the caller's unit of work; a retried step appends nothing twice."""
    await log.lock_tail()
    # Same bytes, same row: event ids are unique per sender only, so two regions' accepted
    # events may share an id and must both be logged.
    if await log.contains(direction, event_id, envelope):
        return
    last = await log.head()
    prev_hash = last.hash if last is not None else GENESIS
    await log.add(
        LogRow(
            direction,
            event_id,
            envelope,
            prev_hash,
            chain_hash(prev_hash, direction, event_id, envelope),
        )
    )


async def append(conn: Conn, direction: str, event_id: str, envelope: bytes) -> None:
    """`append_to` the log of the database behind `conn`, in its open transaction."""
    await append_to(PostgresMessageLog(conn), direction, event_id, envelope)


async def head(conn: Conn) -> LogHead | None:
    """The newest row the caller's transaction sees: committed, or appended by that same
    transaction, so whatever is told about it commits together with the row itself."""
    return await PostgresMessageLog(conn).head()


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
