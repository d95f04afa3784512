"""Auditing the message log: the hash chain, and every envelope's signature against the
trust directory (this node's own keys for what it sent, the sender's for what it accepted).

The chain alone does not stop an attacker with database access who rewrites a row and
recomputes every later hash; the signatures do, because the attacker holds no region's key.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from events.envelope import Envelope
from events.message_log import verify_chain
from events.pg import Conn
from events.signing import signature_valid
from events.trust import TrustDirectory, signing_key_any_time


@dataclass(frozen=True)
class AuditBreak:
    seq: int
    problem: str


@dataclass(frozen=True)
class AuditReport:
    rows: int
    first_break: AuditBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def _envelope_problem(
    direction: str, event_id: str, raw: bytes, directory: TrustDirectory, region: str
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
    if key is None:
        return f"key {envelope.keyid} of {envelope.senderregion} is not in the directory"
    if not signature_valid(envelope, key):
        return f"signature by {envelope.keyid} does not verify"
    return None


async def audit_message_log(conn: Conn, directory: TrustDirectory, region: str) -> AuditReport:
    chain_break = await verify_chain(conn)
    rows = 0
    first: AuditBreak | None = None
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(
            "SELECT seq, direction, event_id, envelope FROM message_log ORDER BY seq"
        ):
            rows += 1
            if first is not None:
                continue
            problem = _envelope_problem(
                row["direction"], row["event_id"], bytes(row["envelope"]), directory, region
            )
            if problem is not None:
                first = AuditBreak(row["seq"], problem)
    if chain_break is not None and (first is None or chain_break.seq <= first.seq):
        first = AuditBreak(chain_break.seq, f"hash chain: {chain_break.problem}")
    return AuditReport(rows, first)
