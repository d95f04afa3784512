"""Where the signed hop goes: B's decision step from its commit to A's workflow, in parts.

Read from both regions' own rows after a run: B's outbox (when the step's transaction began,
when the relay took its records) and A's inbox (when the bridge's transaction that stored them
began, when the dispatcher delivered them). The records of one step are the rows B's commit
wrote to A together with the `decided` event (its documents' manifests and chunks too).
Postgres's now() is a transaction's start, so each part ends where the next one's
transaction began.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from bench.stats import Latency
from events.models import EventType

# B's step committed → the relay took it → A's bridge stored its last record → A delivered;
# each with the label the bench prints.
PARTS = {
    "b_step_to_relay": "B step → relay",
    "relay_to_a_stored": "relay → A stored",
    "a_stored_to_delivered": "A stored → delivered",
    "b_step_to_a_delivered": "B step → A delivered",
}
# A connection or a pool: both answer fetch().
Db: TypeAlias = "asyncpg.Connection[Any] | asyncpg.Pool[Any]"


@dataclass(frozen=True)
class HopParts:
    parts: dict[str, Latency]
    polls_per_step: float  # A's bridge transactions that stored one step's records


@dataclass
class HopSamples:
    """Seconds per part of each step seen whole; several pairs' samples add up."""

    parts: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PARTS})
    polls: list[int] = field(default_factory=list)

    def summary(self) -> HopParts | None:
        if not self.polls:
            return None
        return HopParts(
            {p: Latency.of(s) for p, s in self.parts.items()}, sum(self.polls) / len(self.polls)
        )


async def hop_samples(
    origin_db: Db,
    processing_db: Db,
    origin: str,
    processing: str,
    case_nos: list[str],
    into: HopSamples,
) -> None:
    """Add the decision steps of these cases (accepted at `origin`) to `into`."""
    steps = await processing_db.fetch(
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
    seen = {
        r["event_id"]: (r["received_at"], r["delivered_at"])
        for r in await origin_db.fetch(
            "SELECT event_id, received_at, delivered_at FROM inbox"
            " WHERE sender_region = $1 AND case_no = ANY($2::text[])",
            processing,
            case_nos,
        )
    }
    for step in steps:
        arrived = [seen[i] for i in step["ids"] if i in seen]
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
            into.parts[part].append((ended - began).total_seconds())
        into.polls.append(len({r for r, _ in arrived}))


async def hop_parts(
    origin_dsn: str, processing_dsn: str, origin: str, processing: str, case_nos: list[str]
) -> HopParts | None:
    samples = HopSamples()
    a, b = await asyncpg.connect(origin_dsn), await asyncpg.connect(processing_dsn)
    try:
        await hop_samples(a, b, origin, processing, case_nos, samples)
    finally:
        await a.close()
        await b.close()
    return samples.summary()
