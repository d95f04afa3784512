"""Feeding inputs through the node's inbound boundary and judging what became of each.

Every input goes through `events.inbox.store_incoming` with the receiving node's verifier, on
a real connection to its database, as the inbox bridge does it. A batch runs inside one
transaction that is rolled back at its end (store_incoming's own transactions nest as
savepoints), so nothing outlives the run; batches stay short so that the message log's
append lock is never held for long. The judgement, per input:
- an exception out of `store_incoming` is a crash;
- a stored record (accepted or duplicate) must be byte-identical to a genuine envelope;
- a quarantined record must carry a `RejectReason`;
- where the generator knew the one right outcome, the outcome must be it.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from events import evidence
from events.envelope import Envelope
from events.inbox import Admission, IncomingRecord, Stored, Verifier, store_incoming
from events.models import PAYLOAD_MODELS
from events.pg import Conn
from events.rejections import Rejected, RejectReason
from tests.fuzz.mutations import FuzzInput, genuine_first, hostile
from tests.fuzz.world import FUZZ_TOPIC, RECEIVER, FuzzWorld

BATCH_SIZE = 200
_SHOWN_BYTES = 200


@dataclass(frozen=True)
class Finding:
    """Something the boundary must never do, with the input that made it happen."""

    kind: str  # one of CRASH_KINDS, "unexpected" or "left-behind"
    mutation: str
    raw: bytes
    detail: str

    def describe(self) -> str:
        shown = self.raw[:_SHOWN_BYTES]
        more = f" (+{len(self.raw) - len(shown)} bytes)" if len(self.raw) > len(shown) else ""
        return f"[{self.kind}] {self.mutation}: {self.detail}\n    input: {shown!r}{more}"


# A signed payload stored only thanks to a type conversion ("10" for an integer, a number
# for a datetime): stored-not-genuine, told apart because the fuzzer found it this way once.
LAX_PAYLOAD = "coerced"
# A genuine record with its signature spelled otherwise that still verified: only the
# duplicate check stopped it; first on the bus, it would have been stored instead.
MALLEABLE = "malleable"
# Failures that are crashes: the node would stop, or take a record it must refuse.
CRASH_KINDS = frozenset({"crash", "stored-not-genuine", "no-reason", LAX_PAYLOAD, MALLEABLE})


@dataclass
class Tally:
    tried: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_mutation: dict[str, Counter[str]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def crashes(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in CRASH_KINDS]

    @property
    def unexpected(self) -> list[Finding]:
        return [f for f in self.findings if f.kind not in CRASH_KINDS]

    def count(self, item: FuzzInput, outcome: str) -> None:
        self.tried += 1
        self.outcomes[outcome] += 1
        self.by_mutation.setdefault(item.mutation, Counter())[outcome] += 1

    def report(self, *, per_mutation: bool = False) -> str:
        rate = self.tried / self.seconds if self.seconds else 0.0
        lines = [
            f"inputs tried: {self.tried} in {self.seconds:.1f} s ({rate:.0f} inputs/s)",
            f"crashes: {len(self.crashes)}",
            f"unexpected outcomes: {len(self.unexpected)}",
            "outcomes:",
        ]
        lines += [f"  {name:24} {n:8}" for name, n in sorted(self.outcomes.items())]
        if per_mutation:
            lines.append("outcomes per mutation:")
            for mutation, counts in sorted(self.by_mutation.items()):
                shown = ", ".join(f"{k} {v}" for k, v in counts.most_common())
                lines.append(f"  {mutation}: {shown}")
        lines += [f.describe() for f in [*self.crashes, *self.unexpected][:20]]
        return "\n".join(lines)


def outcome_of(admission: Admission) -> str:
    if admission.stored is Stored.QUARANTINED and admission.rejected is not None:
        return admission.rejected.reason.value
    return admission.stored.value


def _coerced(envelope: Envelope | None) -> bool:
    """The payload is valid only with pydantic's type conversions, not as JSON types."""
    if envelope is None:
        return False
    model = PAYLOAD_MODELS.get(envelope.type) or evidence.payload_models()[envelope.type.value]
    try:
        model.model_validate_json(json.dumps(envelope.data), strict=True)
    except ValidationError:
        return True
    return False


def judge(world: FuzzWorld, item: FuzzInput, admission: Admission, tally: Tally) -> None:
    outcome = outcome_of(admission)
    tally.count(item, outcome)
    if admission.stored is Stored.QUARANTINED:
        if admission.rejected is None or not isinstance(admission.rejected.reason, RejectReason):
            tally.findings.append(Finding("no-reason", item.mutation, item.raw, repr(admission)))
            return
    elif item.raw not in world.genuine_wire or admission.envelope is None:
        kind = LAX_PAYLOAD if _coerced(admission.envelope) else "stored-not-genuine"
        tally.findings.append(Finding(kind, item.mutation, item.raw, f"stored as {outcome}"))
        return
    if outcome == RejectReason.CONFLICTING_DUPLICATE.value and not item.needs_inbox:
        # It verified: first on the bus, it would have been stored.
        tally.findings.append(Finding(MALLEABLE, item.mutation, item.raw, outcome))
        return
    if item.expect is not None and outcome not in item.expect:
        detail = f"{outcome}, expected {sorted(item.expect)}"
        if admission.rejected is not None:
            detail += f" ({admission.rejected.detail})"
        tally.findings.append(Finding("unexpected", item.mutation, item.raw, detail))


def judge_verified(world: FuzzWorld, item: FuzzInput, verify: Verifier, tally: Tally) -> None:
    """The verifier alone: an envelope only for genuine bytes (or for what only the inbox
    can refuse), else a `Rejected`."""
    try:
        envelope = verify(item.raw)
    except Rejected as rejected:
        tally.count(item, rejected.reason.value)
        return
    # Whatever escapes is the finding: the bridge would stop on it.
    except Exception as exc:  # noqa: BLE001
        detail = "".join(traceback.format_exception_only(exc)).strip()
        tally.findings.append(Finding("crash", item.mutation, item.raw, detail))
        tally.count(item, "crash")
        return
    tally.count(item, Stored.ACCEPTED.value)
    if item.raw not in world.genuine_wire and not item.needs_inbox:
        kind = LAX_PAYLOAD if _coerced(envelope) else "stored-not-genuine"
        if envelope.signing_bytes() in world.genuine_signed:
            kind = MALLEABLE
        tally.findings.append(Finding(kind, item.mutation, item.raw, "verified"))


async def fuzz_batch(
    conn: Conn,
    world: FuzzWorld,
    verify: Verifier,
    items: Iterable[FuzzInput],
    tally: Tally,
    offsets: Iterable[int],
) -> None:
    """One rolled-back transaction: the world's rows, the genuine envelopes, then `items`."""
    quarantined = 0
    transaction = conn.transaction()
    await transaction.start()
    try:
        await world.prepare(conn)
        for item, offset in zip(
            itertools.chain(genuine_first(world), items), offsets, strict=False
        ):
            record = IncomingRecord(FUZZ_TOPIC, 0, offset, item.raw, item.headers)
            try:
                admission = await store_incoming(
                    conn, record, verify, RECEIVER, world.signer_at(), files=world.files()
                )
            # Whatever escapes is the finding: the bridge would stop on it.
            except Exception as exc:  # noqa: BLE001
                detail = "".join(traceback.format_exception_only(exc)).strip()
                tally.findings.append(Finding("crash", item.mutation, item.raw, detail))
                tally.count(item, "crash")
                continue
            quarantined += admission.stored is Stored.QUARANTINED
            judge(world, item, admission, tally)
        # The savepoints really nested: what was quarantined is there, until the rollback.
        held = await conn.fetchval("SELECT count(*) FROM quarantine WHERE topic = $1", FUZZ_TOPIC)
        if held != quarantined:
            detail = f"{held} quarantine rows in the transaction, {quarantined} quarantined"
            tally.findings.append(Finding("left-behind", "batch", b"", detail))
    finally:
        await transaction.rollback()


async def left_behind(conn: Conn) -> int:
    """Rows of the fuzz topic outside any transaction of the run: none, if rollback works."""
    return int(
        await conn.fetchval(
            "SELECT (SELECT count(*) FROM quarantine WHERE topic = $1)"
            " + (SELECT count(*) FROM inbox WHERE topic = $1)",
            FUZZ_TOPIC,
        )
    )


async def fuzz(
    conn: Conn,
    world: FuzzWorld,
    *,
    seed: int,
    inputs: int | None = None,
    seconds: float | None = None,
    progress: Callable[[Tally], None] | None = None,
) -> Tally:
    """Hostile inputs through the boundary until `inputs` were tried or `seconds` passed."""
    rng = random.Random(seed)
    verify = world.verifier()
    tally = Tally()
    offsets = itertools.count()
    started = time.monotonic()
    while True:
        if inputs is not None and tally.tried >= inputs:
            break
        if seconds is not None and time.monotonic() - started >= seconds:
            break
        size = BATCH_SIZE if inputs is None else min(BATCH_SIZE, inputs - tally.tried)
        batch = [hostile(rng, world) for _ in range(size)]
        await fuzz_batch(conn, world, verify, batch, tally, offsets)
        tally.seconds = time.monotonic() - started
        if progress is not None:
            progress(tally)
    tally.seconds = time.monotonic() - started
    if await left_behind(conn):
        tally.findings.append(Finding("left-behind", "run", b"", "rows of the fuzz topic remain"))
    return tally
