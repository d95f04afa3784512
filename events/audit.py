"""Auditing the message log: the hash chain, every envelope's signature against the trust
directory (this node's own keys for what it sent, the sender's for what it accepted), the
signing key's revocation, and the log's heads that peer regions hold.

The chain alone does not stop an attacker with database access who rewrites a row and
recomputes every later hash; the signatures do, because the attacker holds no region's key.
Neither stops one who deletes the newest rows, since what is left still links: the heads
peers were told of in signed receipts (events/log_anchors.py) do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from events.envelope import Envelope
from events.log_anchors import Anchor
from events.message_log import verify_chain
from events.models import EventReceipt, EventType
from events.pg import Conn
from events.signing import signature_valid
from events.trust import KeyEntry, TrustDirectory, signing_key_any_time


@dataclass(frozen=True)
class AuditBreak:
    seq: int
    problem: str
    # Set when rows are missing: the break spans seq..last_seq.
    last_seq: int | None = None

    def describe(self) -> str:
        if self.last_seq is None:
            return f"row seq {self.seq}: {self.problem}"
        return f"rows {self.seq}..{self.last_seq} missing: {self.problem}"


@dataclass(frozen=True)
class AuditReport:
    rows: int
    breaks: tuple[AuditBreak, ...] = ()

    @property
    def first_break(self) -> AuditBreak | None:
        return min(self.breaks, key=lambda b: b.seq, default=None)

    @property
    def intact(self) -> bool:
        return not self.breaks


def _key_entry(directory: TrustDirectory, region: str, key_id: str) -> KeyEntry | None:
    entry = directory.region(region)
    if entry is None:
        return None
    return next((k for k in entry.signing_keys if k.key_id == key_id), None)


def revocation_problem(key: KeyEntry, direction: str, logged_at: datetime) -> str | None:
    """An envelope stays good when its key was revoked only after this node took it in (a
    `sent` row's own time, an `accepted` row's receipt time); one taken in later is suspect."""
    if not key.revoked and key.revoked_at is None:
        return None
    taken_in = "sent" if direction == "sent" else "received"
    if key.revoked_at is None:
        return f"key {key.key_id} is revoked and the directory does not say since when"
    if key.revoked_at <= logged_at:
        return (
            f"key {key.key_id} was revoked at {key.revoked_at.isoformat()},"
            f" before this envelope was {taken_in} at {logged_at.isoformat()}"
        )
    return None


def _envelope_problem(
    direction: str,
    event_id: str,
    raw: bytes,
    logged_at: datetime,
    directory: TrustDirectory,
    region: str,
) -> str | None:
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError:
        return "envelope does not parse"
    if envelope.id != event_id:
        return f"envelope id {envelope.id} is not the logged event id {event_id}"
    own_side = envelope.senderregion if direction == "sent" else envelope.recipientregion
    if own_side != region:
        return f"a {direction} envelope that does not name {region}"
    key = signing_key_any_time(directory, envelope.senderregion, envelope.keyid)
    entry = _key_entry(directory, envelope.senderregion, envelope.keyid)
    if key is None or entry is None:
        return f"key {envelope.keyid} of {envelope.senderregion} is not in the directory"
    if not signature_valid(envelope, key):
        return f"signature by {envelope.keyid} does not verify"
    return revocation_problem(entry, direction, logged_at)


async def audit_message_log(conn: Conn, directory: TrustDirectory, region: str) -> AuditReport:
    chain_break = await verify_chain(conn)
    rows = 0
    breaks: list[AuditBreak] = []
    if chain_break is not None:
        breaks.append(AuditBreak(chain_break.seq, f"hash chain: {chain_break.problem}"))
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(
            "SELECT seq, direction, event_id, envelope, logged_at FROM message_log ORDER BY seq"
        ):
            rows += 1
            problem = _envelope_problem(
                row["direction"],
                row["event_id"],
                bytes(row["envelope"]),
                row["logged_at"],
                directory,
                region,
            )
            if problem is not None:
                breaks.append(AuditBreak(row["seq"], problem))
    return AuditReport(rows, tuple(sorted(breaks, key=lambda b: b.seq)))


@dataclass(frozen=True)
class AnchorReport:
    anchors: int
    breaks: tuple[AuditBreak, ...] = ()
    # Anchors a holder keeps without the signed receipt behind them: not used as evidence.
    unbacked: tuple[str, ...] = ()


def _receipt_problem(anchor: Anchor, raw: bytes, directory: TrustDirectory) -> str | None:
    try:
        receipt = Envelope.model_validate_json(raw)
    except ValidationError:
        return "its receipt does not parse"
    if receipt.type is not EventType.RECEIPT or receipt.senderregion != anchor.region:
        return f"its receipt is not a receipt from {anchor.region}"
    key = signing_key_any_time(directory, receipt.senderregion, receipt.keyid)
    if key is None or not signature_valid(receipt, key):
        return "its receipt's signature does not verify"
    try:
        stated = EventReceipt.model_validate(receipt.data)
    except ValidationError:
        return "its receipt does not parse"
    if (stated.log_head_seq, stated.log_head_hash) != (anchor.seq, anchor.hash.hex()):
        return "its receipt states another head"
    return None


def backing_problem(anchor: Anchor, directory: TrustDirectory) -> str | None:
    """Why an anchor is not evidence against its region: a holder's database owner could
    insert any row, but not a receipt signed by that region stating this head."""
    problems = [_receipt_problem(anchor, raw, directory) for raw in anchor.receipts]
    if not problems:
        return "its receipt is not in the holder's message log"
    return None if None in problems else problems[0]


# Anchored seqs the log does not have, each with the rows that bound its gap.
_ABSENT = """
SELECT a.seq,
       (SELECT coalesce(max(m.seq), 0) FROM message_log m WHERE m.seq < a.seq) AS before,
       (SELECT min(m.seq) FROM message_log m WHERE m.seq > a.seq) AS after
FROM unnest($1::bigint[]) AS a(seq)
WHERE NOT EXISTS (SELECT 1 FROM message_log m WHERE m.seq = a.seq)
"""


def _missing(anchor: Anchor, before: int, after: int | None) -> AuditBreak:
    return AuditBreak(
        before + 1,
        f"newest anchored head held by {anchor.holder} is seq {anchor.seq}"
        f" (receipt {anchor.receipt_event_id}, received {anchor.received_at.isoformat()})",
        last_seq=anchor.seq if after is None else after - 1,
    )


def _differs(anchor: Anchor, held: bytes) -> AuditBreak:
    return AuditBreak(
        anchor.seq,
        f"not the row {anchor.holder} was told of (receipt {anchor.receipt_event_id}):"
        f" hash {held.hex()[:16]}…, anchored {anchor.hash.hex()[:16]}…",
    )


async def audit_anchors(
    conn: Conn, held: Sequence[Anchor], directory: TrustDirectory
) -> AnchorReport:
    """Check the log behind `conn` against heads of it that peers hold: each anchored row must
    be there with the anchored hash. Missing rows are named as one range per gap, with the
    newest head anchored in it (that head proves the rows up to it existed)."""
    anchors: list[Anchor] = []
    unbacked: list[str] = []
    for anchor in held:
        problem = backing_problem(anchor, directory)
        if problem is None:
            anchors.append(anchor)
        else:
            unbacked.append(f"seq {anchor.seq} held by {anchor.holder}: {problem}")
    seqs = sorted({a.seq for a in anchors})
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        present = {
            r["seq"]: bytes(r["hash"])
            for r in await conn.fetch(
                "SELECT seq, hash FROM message_log WHERE seq = ANY($1::bigint[])", seqs
            )
        }
        gap_of = {r["seq"]: (r["before"], r["after"]) for r in await conn.fetch(_ABSENT, seqs)}
    newest_in_gap: dict[tuple[int, int | None], Anchor] = {}
    breaks: list[AuditBreak] = []
    for anchor in anchors:
        logged = present.get(anchor.seq)
        if logged is None:
            gap = gap_of[anchor.seq]
            newest = newest_in_gap.get(gap)
            if newest is None or anchor.seq > newest.seq:
                newest_in_gap[gap] = anchor
        elif logged != anchor.hash:
            breaks.append(_differs(anchor, logged))
    breaks.extend(_missing(a, *gap) for gap, a in newest_in_gap.items())
    return AnchorReport(len(anchors), tuple(sorted(breaks, key=lambda b: b.seq)), tuple(unbacked))
