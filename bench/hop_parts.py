"""Where the signed hop goes: B's decision step from its commit to A's workflow, in parts.

Read from both regions' own rows after a run: B's outbox (when the step's transaction began,
when the relay took its records) and A's inbox (when the bridge's transaction that stored them
began, when the dispatcher delivered them). The records of one step are the rows B's commit
wrote to A together with the `decided` event (its documents' manifests and chunks too).
Postgres's now() is a transaction's start, so each part ends where the next one's
transaction began.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from bench.stats import Latency
from events.models import EventType

# B's step committed → the relay took it → A's bridge stored its last record → A delivered.
PARTS = ("b_step_to_relay", "relay_to_a_stored", "a_stored_to_delivered", "b_step_to_a_delivered")


@dataclass(frozen=True)
class HopParts:
    parts: dict[str, Latency]
    polls_per_step: float  # A's bridge transactions that stored one step's records
    records_per_step: float


async def hop_parts(
    origin_dsn: str, processing_dsn: str, origin: str, processing: str, case_nos: list[str]
) -> HopParts | None:
    b = await asyncpg.connect(processing_dsn)
    try:
        steps = await b.fetch(
            "SELECT d.case_no, d.created_at, d.sent_at, array_agg(o.event_id) AS ids"
            " FROM outbox d JOIN outbox o ON o.case_no = d.case_no"
            "  AND o.created_at = d.created_at AND o.recipient_region = d.recipient_region"
            " WHERE d.event_type = $1 AND d.recipient_region = $2"
            "  AND d.case_no = ANY($3::text[]) AND d.sent_at IS NOT NULL"
            " GROUP BY d.case_no, d.event_id, d.created_at, d.sent_at",
            EventType.DECIDED.value,
            origin,
            case_nos,
        )
    finally:
        await b.close()
    a = await asyncpg.connect(origin_dsn)
    try:
        seen = {
            (r["sender_region"], r["event_id"]): (r["received_at"], r["delivered_at"])
            for r in await a.fetch(
                "SELECT sender_region, event_id, received_at, delivered_at FROM inbox"
                " WHERE sender_region = $1 AND case_no = ANY($2::text[])",
                processing,
                case_nos,
            )
        }
    finally:
        await a.close()
    samples: dict[str, list[float]] = {p: [] for p in PARTS}
    polls: list[int] = []
    records: list[int] = []
    for step in steps:
        arrived = [seen[(processing, i)] for i in step["ids"] if (processing, i) in seen]
        delivered = [d for _, d in arrived if d is not None]
        if len(arrived) < len(step["ids"]) or len(delivered) < len(arrived):
            continue  # not all of it there yet: no figure rather than a partial one
        stored_at: datetime = max(r for r, _ in arrived)
        delivered_at: datetime = max(delivered)
        for part, began, ended in (
            ("b_step_to_relay", step["created_at"], step["sent_at"]),
            ("relay_to_a_stored", step["sent_at"], stored_at),
            ("a_stored_to_delivered", stored_at, delivered_at),
            ("b_step_to_a_delivered", step["created_at"], delivered_at),
        ):
            samples[part].append((ended - began).total_seconds())
        polls.append(len({r for r, _ in arrived}))
        records.append(len(arrived))
    if not polls:
        return None
    return HopParts(
        {p: Latency.of(s) for p, s in samples.items()},
        sum(polls) / len(polls),
        sum(records) / len(records),
    )
