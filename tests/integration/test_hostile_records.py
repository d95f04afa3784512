"""No record can stop a region: hostile records against the real broker and a running pair.

广东's node is killed, every kind of hostile record is written to its inbox topic (as anyone
with write access to the bus could), and the node is started again: before issue 13, the first
of them (nested JSON arrays) stopped the node with a RecursionError, and every restart read it
and stopped again. Now each record ends in quarantine with its own reason, the node stays up,
and a case submitted afterwards completes in both regions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy.stack.settings import StackEndpoints, StackSettings
from events.directory_admin import DirectoryAdmin
from events.envelope import Envelope, event_id_for, region_source
from events.keystore import KeyStore
from events.models import EventType
from events.outbox import signed_envelope
from events.rejections import RejectReason
from events.signing import RegionSigner
from events.topics import inbox_topic
from regions.case_handles import processing_handle
from regions.local import ensure_local_keys, trust_dir
from tests.integration.automatic import AUTOMATIC_ENV
from tests.integration.exchange_support import credentials, dsn, new_case_no, rows, throwaway_key
from tests.integration.exchange_support import submit as submit_case
from tests.integration.pair import ProvincePair, start_pair
from tests.support.stack_access import Bus
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
# Regions with keys in the directory but no running node: their receipts go unread.
FORGER, THIRD = "350100", "350200"


@pytest.fixture(scope="module")
async def pair(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[ProvincePair]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    async with start_pair(stack, stack_settings, A, B, env=AUTOMATIC_ENV) as started:
        yield started


def _withdrawn(signer: RegionSigner, case_no: str, reason: str, **changes: Any) -> Envelope:
    """A valid, signed `withdrawn` from the case's accepting region: B stores it and signals
    no workflow (it never saw the case), which makes it a harmless carrier for these tests."""
    envelope = signed_envelope(
        signer,
        event_type=EventType.WITHDRAWN,
        case_no=case_no,
        step=f"withdrawn/{reason}",
        recipient=B,
        data={"case_no": case_no, "reason": reason},
        now=datetime.now(UTC),
    )
    if not changes:
        return envelope
    return signer.sign(envelope.model_copy(update={**changes, "signature": None}))


def _document(envelope: Envelope) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(envelope.to_wire())
    return parsed


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Forgers:
    signer: RegionSigner  # FORGER's current key
    rotated_out: RegionSigner  # a FORGER key whose not_after passed an hour ago
    unlisted: RegionSigner


def _rotated_out_key(stack_settings: StackSettings) -> RegionSigner:
    now = datetime.now(UTC)
    signer, entry = throwaway_key(
        FORGER, "rotated", now - timedelta(days=3), now - timedelta(hours=1)
    )
    admin = DirectoryAdmin(KeyStore(trust_dir(stack_settings)))
    admin.add_signing_key(FORGER, entry)
    admin.publish(now)
    return signer


Make = Callable[[Forgers, str], bytes]


def _naive_time(f: Forgers, case_no: str) -> bytes:
    document = _document(_withdrawn(f.signer, case_no, "naive"))
    document["time"] = document["time"].rstrip("Z")[:19]
    return _json(document)


def _duplicate_keys(f: Forgers, case_no: str) -> bytes:
    wire = _withdrawn(f.signer, case_no, "dupkeys").to_wire()
    # The same key twice: `json` would silently keep the second value.
    return wire.replace(b'"case_no":', b'"case_no":"350100-20200101-AAAAAAAA","case_no":', 1)


# name -> (expected reason, the record for a fresh case number)
HOSTILE: dict[str, tuple[RejectReason, Make]] = {
    "deeply nested arrays (10 KB)": (
        RejectReason.MALFORMED,
        lambda f, c: b"[" * 5000 + b"]" * 5000,
    ),
    "deep nesting inside data": (
        RejectReason.MALFORMED,
        lambda f, c: _json(_document(_withdrawn(f.signer, c, "x"))).replace(
            b'"reason":"x"', b'"reason":' + b"[" * 3000 + b"]" * 3000
        ),
    ),
    "huge number": (
        RejectReason.MALFORMED,
        lambda f, c: _json(_document(_withdrawn(f.signer, c, "big"))).replace(
            b'"tbversion":1', b'"tbversion":' + b"9" * 5000
        ),
    ),
    "infinite float": (
        RejectReason.MALFORMED,
        lambda f, c: _json(_document(_withdrawn(f.signer, c, "inf"))).replace(
            b'"tbversion":1', b'"tbversion":1,"extra":1e999'
        ),
    ),
    "wrong types": (
        RejectReason.MALFORMED,
        lambda f, c: _json({**_document(_withdrawn(f.signer, c, "types")), "time": 12, "data": []}),
    ),
    "invalid UTF-8": (RejectReason.MALFORMED, lambda f, c: b'{"id":"\xff\xfe","tbversion":1}'),
    "UTF-16": (
        RejectReason.MALFORMED,
        lambda f, c: _withdrawn(f.signer, c, "utf16").to_wire().decode().encode("utf-16"),
    ),
    "empty record": (RejectReason.MALFORMED, lambda f, c: b""),
    "time without a zone": (RejectReason.MALFORMED, _naive_time),
    "key id not in the directory": (
        RejectReason.UNKNOWN_KEY,
        lambda f, c: _withdrawn(f.unlisted, c, "unlisted").to_wire(),
    ),
    "key rotated out before receipt": (
        RejectReason.KEY_EXPIRED,
        # Signed "two hours ago", while the key was valid; received after its not_after.
        lambda f, c: _withdrawn(
            f.rotated_out, c, "rotated", time=datetime.now(UTC) - timedelta(hours=2)
        ).to_wire(),
    ),
    "unknown type": (
        RejectReason.UNKNOWN_TYPE,
        lambda f, c: _json(
            {**_document(_withdrawn(f.signer, c, "type")), "type": "cn.tongban.case.exploded"}
        ),
    ),
    "duplicate JSON keys": (RejectReason.MALFORMED, _duplicate_keys),
    "NUL in a string": (
        RejectReason.MALFORMED,
        lambda f, c: _withdrawn(f.signer, c, "nul").to_wire().replace(b'"nul"', b'"n\\u0000l"'),
    ),
    "lone surrogate": (
        RejectReason.MALFORMED,
        lambda f, c: _withdrawn(f.signer, c, "sur").to_wire().replace(b'"sur"', b'"\\ud800"'),
    ),
    "too many members": (
        RejectReason.MALFORMED,
        lambda f, c: _json({f"k{i}": i for i in range(5000)}),
    ),
    "not canonical (valid signature, other spelling)": (
        RejectReason.MALFORMED,
        lambda f, c: json.dumps(_document(_withdrawn(f.signer, c, "spaced")), indent=1).encode(),
    ),
    "source names another region": (
        RejectReason.INCONSISTENT,
        lambda f, c: _withdrawn(f.signer, c, "src", source=region_source(THIRD)).to_wire(),
    ),
    "data.case_no is not the subject": (
        RejectReason.INCONSISTENT,
        lambda f, c: _withdrawn(
            f.signer, c, "other", data={"case_no": new_case_no(FORGER), "reason": "other"}
        ).to_wire(),
    ),
}


@dataclass(frozen=True)
class Placed:
    case_no: str
    raw: bytes
    partition: int
    offset: int


async def _produce_all(
    bus: Bus, records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]
) -> list[tuple[int, int]]:
    producer = bus.producer(max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        placed = []
        for value, key, headers in records:
            meta = await producer.send_and_wait(inbox_topic(B), value, key=key, headers=headers)
            placed.append((meta.partition, meta.offset))
        return placed
    finally:
        await producer.stop()


async def _quarantine_row(stack: StackEndpoints, partition: int, offset: int) -> Any:
    found = await rows(
        dsn(stack, B),
        "SELECT reason, raw, raw_length FROM quarantine"
        " WHERE topic = $1 AND kafka_partition = $2 AND kafka_offset = $3",
        inbox_topic(B),
        partition,
        offset,
    )
    return found[0] if found else None


async def test_hostile_records_are_quarantined_the_node_stays_up_and_a_case_completes(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings, bus: Bus
) -> None:
    forgers = Forgers(
        signer=credentials(stack_settings, FORGER).signer(datetime.now(UTC)),
        rotated_out=_rotated_out_key(stack_settings),
        unlisted=RegionSigner(FORGER, f"{FORGER}-never-listed", Ed25519PrivateKey.generate()),
    )
    made = {name: (new_case_no(FORGER), make) for name, (_, make) in HOSTILE.items()}
    records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []
    for case_no, make in made.values():
        records.append((make(forgers, case_no), case_no.encode(), []))
    # A tombstone (no value at all) with a header that has no value and garbage trace context.
    records.append((None, b"tombstone", [("traceparent", b"\xff\x00garbage"), ("empty", b"")]))

    # Written while 广东 is down, so its restart begins by reading them: the way a poison record
    # used to keep a node from ever coming back.
    pair.nodes[B].kill()
    placed = await _produce_all(bus, records)
    await pair.restart(B)  # kill (already dead) and start; waits until the worker polls

    for index, (name, (expected, _)) in enumerate(HOSTILE.items()):
        partition, offset = placed[index]

        async def quarantined(p: int = partition, o: int = offset) -> Any:
            return await _quarantine_row(stack, p, o)

        row = await eventually(quarantined, what=f"{name} quarantined")
        assert row["reason"] == expected.value, name
        assert row["raw_length"] == len(records[index][0] or b"")
    tombstone = await eventually(lambda: _quarantine_row(stack, *placed[-1]), what="tombstone")
    assert (tombstone["reason"], tombstone["raw_length"]) == (RejectReason.MALFORMED.value, 0)

    cases = [case_no for case_no, _ in made.values()]
    assert not await rows(dsn(stack, B), "SELECT 1 FROM inbox WHERE case_no = ANY($1)", cases)
    assert pair.nodes[B].process.poll() is None, "广东's node stopped"

    case_no, handle = await submit_case(stack, stack_settings, A, B)
    outcome = await asyncio.wait_for(handle.result(), timeout=90)
    assert (outcome.status, outcome.outcome) == ("closed", "approved")
    processed = processing_handle(pair.clients[B], case_no)
    b_outcome = await asyncio.wait_for(processed.result(), timeout=30)
    assert (b_outcome.status, b_outcome.outcome) == ("closed", "approved")
    assert pair.nodes[B].process.poll() is None


async def test_same_sender_and_id_with_other_bytes_is_a_conflicting_duplicate(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings, bus: Bus
) -> None:
    signer = credentials(stack_settings, FORGER).signer(datetime.now(UTC))
    case_no = new_case_no(FORGER)
    original = _withdrawn(signer, case_no, "申请人撤回")
    # Same sender, same id, validly signed, but saying something else.
    conflicting = _withdrawn(
        signer, case_no, "申请人撤回", data={"case_no": case_no, "reason": "改"}
    )
    assert conflicting.id == original.id
    assert conflicting.to_wire() != original.to_wire()
    placed = await _produce_all(
        bus,
        [(e.to_wire(), case_no.encode(), []) for e in (original, conflicting, original)],
    )

    second = await eventually(lambda: _quarantine_row(stack, *placed[1]), what="the conflict")
    assert second["reason"] == RejectReason.CONFLICTING_DUPLICATE.value
    assert bytes(second["raw"]) == conflicting.to_wire()

    async def duplicates() -> int | None:
        found = await rows(
            dsn(stack, B),
            "SELECT count FROM inbox_duplicates WHERE sender_region = $1 AND event_id = $2",
            FORGER,
            original.id,
        )
        return found[0]["count"] if found else None

    # The third record, the original again, is an ordinary duplicate: the conflict was not
    # counted as one, nor did it replace what is stored.
    assert await eventually(duplicates, what="the replay counted") == 1
    [stored] = await rows(
        dsn(stack, B), "SELECT envelope FROM inbox WHERE event_id = $1", original.id
    )
    assert bytes(stored["envelope"]) == original.to_wire()


async def test_a_third_region_cannot_pre_empt_another_regions_event_id(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings, bus: Bus
) -> None:
    now = datetime.now(UTC)
    victim_case = new_case_no(FORGER)
    # Event ids are derived from (case, step, sender), so anyone can compute the id FORGER's
    # withdrawal will carry. THIRD withdraws a case of its own under that very id, first.
    victim_id = event_id_for(victim_case, "withdrawn/申请人撤回", FORGER)
    third_case = new_case_no(THIRD)
    pre_emptive = _withdrawn(
        credentials(stack_settings, THIRD).signer(now), third_case, "抢注", id=victim_id
    )
    genuine = _withdrawn(credentials(stack_settings, FORGER).signer(now), victim_case, "申请人撤回")
    assert genuine.id == victim_id
    await _produce_all(bus, [(pre_emptive.to_wire(), b"k", [])])
    await _produce_all(bus, [(genuine.to_wire(), b"k", [])])

    async def both_stored() -> list[Any] | None:
        found = await rows(
            dsn(stack, B),
            "SELECT sender_region, case_no FROM inbox WHERE event_id = $1 ORDER BY sender_region",
            victim_id,
        )
        return found if len(found) == 2 else None

    stored = await eventually(both_stored, what="both events stored")
    assert [(r["sender_region"], r["case_no"]) for r in stored] == [
        (FORGER, victim_case),
        (THIRD, third_case),
    ]
    # Both are in the message log too, each with its own bytes.
    logged = await rows(
        dsn(stack, B),
        "SELECT envelope FROM message_log WHERE direction = 'accepted' AND event_id = $1",
        victim_id,
    )
    assert sorted(bytes(r["envelope"]) for r in logged) == sorted(
        [genuine.to_wire(), pre_emptive.to_wire()]
    )
