"""Outbox rows the relay parked (refused as too large) instead of sending, for `tongban outbox
parked`, the exchange health panel and the console: what went wrong, never what the event
carried."""

from __future__ import annotations

from typing import Any

from events.pg import Conn


async def parked_records(conn: Conn, limit: int = 200) -> list[dict[str, Any]]:
    """Parked outbox rows, newest first."""
    rows = await conn.fetch(
        "SELECT event_id, case_no, event_type, recipient_region,"
        " octet_length(envelope) AS size, park_reason, park_detail, parked_at FROM outbox"
        " WHERE parked_at IS NOT NULL ORDER BY parked_at DESC, seq DESC LIMIT $1",
        limit,
    )
    return [
        {
            "event_id": r["event_id"],
            "case_no": r["case_no"],
            "event_type": r["event_type"],
            "recipient": r["recipient_region"],
            "bytes": r["size"],
            "reason": r["park_reason"],
            "detail": r["park_detail"],
            "parked_at": r["parked_at"].isoformat(),
        }
        for r in rows
    ]


async def parked_count(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL"))
