"""Reading a region's quarantine: the records it refused, for `tongban quarantine`, the
exchange health panel and the console. Summaries say what went wrong, never what a record
carried (its bytes are shown only by `tongban quarantine show`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from events.pg import Conn

SUMMARY_COLUMNS = (
    "id, reason, detail, topic, kafka_partition, kafka_offset, claimed_sender, raw_length,"
    " octet_length(raw) AS kept, raw_sha256, received_at, redriven_at"
)


def summary(row: asyncpg.Record) -> dict[str, Any]:
    """One quarantined record as the list shows it (a row selected with SUMMARY_COLUMNS)."""
    return {
        "id": row["id"],
        "reason": row["reason"],
        "detail": row["detail"],
        "topic": row["topic"],
        "partition": row["kafka_partition"],
        "offset": row["kafka_offset"],
        "claimed_sender": row["claimed_sender"],
        "bytes": row["raw_length"],
        "bytes_kept": row["kept"],
        "sha256": bytes(row["raw_sha256"]).hex(),
        "received_at": row["received_at"].isoformat(),
        "redriven_at": row["redriven_at"].isoformat() if row["redriven_at"] else None,
    }


async def quarantined_records(
    conn: Conn, *, include_redriven: bool = False, limit: int = 200
) -> list[dict[str, Any]]:
    """Quarantined records, newest first; redriven ones only with `include_redriven`."""
    where = "" if include_redriven else " WHERE redriven_at IS NULL"
    rows = await conn.fetch(
        f"SELECT {SUMMARY_COLUMNS} FROM quarantine{where} ORDER BY id DESC LIMIT $1", limit
    )
    return [summary(r) for r in rows]


async def refused_by_sender(conn: Conn, since: datetime) -> list[dict[str, Any]]:
    """Records refused since `since`, per claimed sender and reason, most first (the sender
    is what the record claims: it was not verified)."""
    rows = await conn.fetch(
        "SELECT coalesce(claimed_sender, '?') AS sender, reason, count(*) AS records,"
        " sum(raw_length) AS bytes, max(received_at) AS last_at FROM quarantine"
        " WHERE received_at > $1 GROUP BY 1, 2 ORDER BY records DESC, sender, reason",
        since,
    )
    return [
        {
            "sender": r["sender"],
            "reason": r["reason"],
            "records": r["records"],
            "bytes": int(r["bytes"]),
            "last_at": r["last_at"].isoformat(),
        }
        for r in rows
    ]
