"""Forged, broken, replayed and misaddressed records injected into a running 440000 node.

Each record is produced straight to the node's inbox topic, as anyone with access to the bus
could. Each must land in quarantine with its own reason, its raw bytes and its Kafka
coordinates, and none may reach a workflow. Most forgeries are `forwarded` events, which
would start a processing workflow if they were ever accepted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client

from deploy.stack.settings import StackEndpoints, StackSettings
from events.directory_admin import DirectoryAdmin
from events.envelope import ENVELOPE_VERSION, Envelope, region_source
from events.keystore import KeyStore
from events.models import CaseForwarded, EventReceipt, EventType
from events.rejections import RejectReason
from events.sealing import seal
from events.signing import RegionSigner
from events.topics import inbox_topic
from events.trust import KeyEntry, sealing_key
from regions.local import ensure_local_keys, trust_dir
from regions.node_process import NodeProcess
from tests.integration.exchange_support import (
    credentials,
    dsn,
    new_case_no,
    produce,
    rows,
    start_node,
    throwaway_key,
    tongban,
)
from tests.support.stack_access import Bus, temporal_client
from tests.waiting import eventually

pytestmark = pytest.mark.integration

B, SENDER = "440000", "350100"  # no node runs for 350100: its receipts go unread
MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Keys:
    """Signing keys of the sender in every state a forger might use."""

    current: RegionSigner
    expired: RegionSigner
    revoked: RegionSigner
    old: RegionSigner  # valid since long ago: signs events that are too old
    unlisted: RegionSigner  # listed only later, to show a re-drive
    admin: DirectoryAdmin
    unlisted_entry: KeyEntry


def _key(
    now: datetime, name: str, not_before: timedelta, days: int
) -> tuple[RegionSigner, KeyEntry]:
    since = now - not_before
    return throwaway_key(SENDER, name, since, since + timedelta(days=days))


@pytest.fixture(scope="module")
def keys(stack_settings: StackSettings) -> Keys:
    ensure_local_keys(stack_settings, stack_settings.regions)
    admin = DirectoryAdmin(KeyStore(trust_dir(stack_settings)))
    now = datetime.now(UTC)
    expired, expired_entry = _key(now, "expired", timedelta(days=3), 2)
    revoked, revoked_entry = _key(now, "revoked", timedelta(days=1), 9)
    old, old_entry = _key(now, "old", timedelta(days=30), 60)
    unlisted, unlisted_entry = _key(now, "unlisted", timedelta(hours=1), 9)
    for entry in (expired_entry, revoked_entry, old_entry):
        admin.add_signing_key(SENDER, entry)
    admin.revoke(SENDER, revoked_entry.key_id)
    admin.publish(now)  # the running node picks the new version up on its next read
    return Keys(
        current=credentials(stack_settings, SENDER).signer(now),
        expired=expired,
        revoked=revoked,
        old=old,
        unlisted=unlisted,
        admin=admin,
        unlisted_entry=unlisted_entry,
    )


@dataclass
class Node:
    process: NodeProcess
    client: Client


@pytest.fixture(scope="module")
async def node(
    stack: StackEndpoints, stack_settings: StackSettings, keys: Keys
) -> AsyncIterator[Node]:
    client = await temporal_client(stack_settings, stack, B)
    process = await start_node(
        stack, stack_settings, B, client, {"TONGBAN_NODE_MAX_RECORD_BYTES": str(MAX_BYTES)}
    )
    try:
        yield Node(process, client)
    finally:
        process.stop()


def _forwarded(stack_settings: StackSettings, case_no: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    key_id, public = sealing_key(credentials(stack_settings, B).directory(), B, now)
    return CaseForwarded(
        case_no=case_no,
        item_code="GG-00102-000",
        item_version=1,
        origin_region=SENDER,
        processing_region=B,
        applicant=seal(
            b'{"name": "x"}', case_no=case_no, recipient=B, key_id=key_id, recipient_public=public
        ),
        materials=(),
        fee_fen=0,
    ).model_dump(mode="json")


def _envelope(
    signer: RegionSigner,
    case_no: str,
    data: dict[str, Any],
    *,
    event_type: EventType = EventType.FORWARDED,
    recipient: str = B,
    at: datetime | None = None,
) -> Envelope:
    unsigned = Envelope(
        id=f"forged-{case_no}-{event_type.name.lower()}",
        source=region_source(signer.region),
        type=event_type,
        time=at or datetime.now(UTC),
        subject=case_no,
        tbversion=ENVELOPE_VERSION,
        senderregion=signer.region,
        recipientregion=recipient,
        keyid=signer.key_id,
        data=data,
    )
    return signer.sign(unsigned)


def _tampered(envelope: Envelope) -> bytes:
    document = json.loads(envelope.to_wire())
    document["data"]["fee_fen"] = 1  # one field changed after signing
    return json.dumps(document).encode()


def _reversioned(envelope: Envelope) -> bytes:
    document = json.loads(envelope.to_wire())
    document["tbversion"] = ENVELOPE_VERSION + 1
    return json.dumps(document).encode()


def _stranger(case_no: str, data: dict[str, Any]) -> bytes:
    signer = RegionSigner("990000", "990000-sig-1", Ed25519PrivateKey.generate())
    return _envelope(signer, case_no, data).to_wire()


Forgery = Callable[[Keys, str, dict[str, Any]], bytes]

# name -> (expected reason, how the record is made from the keys, its case number and a valid
# `forwarded` payload for that case)
FORGERIES: dict[str, tuple[RejectReason, Forgery]] = {
    "malformed json": (RejectReason.MALFORMED, lambda k, c, d: b'{"specversion": "1.0",'),
    "schema error": (
        RejectReason.MALFORMED,
        lambda k, c, d: json.dumps({"tbversion": ENVELOPE_VERSION, "id": c}).encode(),
    ),
    "oversize": (RejectReason.OVERSIZE, lambda k, c, d: b" " * (MAX_BYTES + 1)),
    "unsupported version": (
        RejectReason.UNSUPPORTED_VERSION,
        lambda k, c, d: _reversioned(_envelope(k.current, c, d)),
    ),
    "unknown region": (RejectReason.UNKNOWN_REGION, lambda k, c, d: _stranger(c, d)),
    "unknown key": (
        RejectReason.UNKNOWN_KEY,
        lambda k, c, d: _envelope(k.unlisted, c, d).to_wire(),
    ),
    "expired key": (
        RejectReason.KEY_EXPIRED,
        lambda k, c, d: _envelope(k.expired, c, d).to_wire(),
    ),
    "revoked key": (
        RejectReason.KEY_REVOKED,
        lambda k, c, d: _envelope(k.revoked, c, d).to_wire(),
    ),
    "bad signature": (
        RejectReason.BAD_SIGNATURE,
        lambda k, c, d: _tampered(_envelope(k.current, c, d)),
    ),
    "wrong recipient": (
        RejectReason.WRONG_RECIPIENT,
        lambda k, c, d: _envelope(k.current, c, d, recipient="350000").to_wire(),
    ),
    "sender not entitled": (
        RejectReason.SENDER_NOT_ENTITLED,
        # Only the processing region may decide; 350100 accepted this case itself.
        lambda k, c, d: _envelope(
            k.current,
            c,
            {"case_no": c, "outcome": "approved", "reason": "", "decision_digest": None},
            event_type=EventType.DECIDED,
        ).to_wire(),
    ),
    "clock skew": (
        RejectReason.CLOCK_SKEW,
        lambda k, c, d: _envelope(
            k.current, c, d, at=datetime.now(UTC) + timedelta(hours=1)
        ).to_wire(),
    ),
    "too old": (
        RejectReason.TOO_OLD,
        lambda k, c, d: _envelope(k.old, c, d, at=datetime.now(UTC) - timedelta(days=8)).to_wire(),
    ),
    "receipt for an unknown event": (
        RejectReason.RECEIPT_UNKNOWN_EVENT,
        lambda k, c, d: _envelope(
            k.current,
            c,
            EventReceipt(
                case_no=c, receipted_event_id="never-sent", receipted_digest="0" * 64
            ).model_dump(mode="json"),
            event_type=EventType.RECEIPT,
        ).to_wire(),
    ),
}


@dataclass(frozen=True)
class Injected:
    name: str
    case_no: str
    raw: bytes
    partition: int
    offset: int


@pytest.fixture(scope="module")
async def injected(
    node: Node, keys: Keys, stack_settings: StackSettings, bus: Bus
) -> dict[str, Injected]:
    placed = {}
    for name, (_, forge) in FORGERIES.items():
        case_no = new_case_no(SENDER)
        raw = forge(keys, case_no, _forwarded(stack_settings, case_no))
        partition, offset = await produce(bus, B, raw, case_no.encode())
        placed[name] = Injected(name, case_no, raw, partition, offset)
    return placed


async def _quarantined(stack: StackEndpoints, record: Injected) -> Any:
    found = await rows(
        dsn(stack, B),
        "SELECT id, reason, raw, raw_sha256, raw_length, topic, kafka_partition, kafka_offset,"
        " redriven_at"
        " FROM quarantine WHERE topic = $1 AND kafka_partition = $2 AND kafka_offset = $3",
        inbox_topic(B),
        record.partition,
        record.offset,
    )
    return found[0] if found else None


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_each_forgery_is_quarantined_with_its_reason_and_reaches_no_workflow(
    name: str, injected: dict[str, Injected], node: Node, stack: StackEndpoints
) -> None:
    record = injected[name]
    row = await eventually(lambda: _quarantined(stack, record), what=f"{name} quarantined")
    assert row["reason"] == FORGERIES[name][0].value
    # Quarantine keeps the first 64 KiB (the node's default) and the digest of everything.
    assert bytes(row["raw"]) == record.raw[: 64 * 1024]
    assert bytes(row["raw_sha256"]) == hashlib.sha256(record.raw).digest()
    assert row["raw_length"] == len(record.raw)
    assert (row["topic"], row["kafka_partition"], row["kafka_offset"]) == (
        inbox_topic(B),
        record.partition,
        record.offset,
    )
    assert not await rows(dsn(stack, B), "SELECT 1 FROM inbox WHERE case_no = $1", record.case_no)
    assert (await node.client.count_workflows(f"CaseNo = '{record.case_no}'")).count == 0


async def test_a_replayed_event_is_counted_as_a_duplicate_not_quarantined(
    node: Node, keys: Keys, stack: StackEndpoints, bus: Bus
) -> None:
    case_no = new_case_no(SENDER)
    # A withdrawal of a case B never saw: valid, stored once, signals no running workflow.
    raw = _envelope(
        keys.current,
        case_no,
        {"case_no": case_no, "reason": "申请人撤回"},
        event_type=EventType.WITHDRAWN,
    ).to_wire()
    first = await produce(bus, B, raw, case_no.encode())
    second = await produce(bus, B, raw, case_no.encode())
    envelope_id = Envelope.model_validate_json(raw).id

    async def counted() -> int | None:
        found = await rows(
            dsn(stack, B), "SELECT count FROM inbox_duplicates WHERE event_id = $1", envelope_id
        )
        return found[0]["count"] if found else None

    assert await eventually(counted, what="the duplicate to be counted") == 1
    assert (
        len(await rows(dsn(stack, B), "SELECT 1 FROM inbox WHERE event_id = $1", envelope_id)) == 1
    )
    for partition, offset in (first, second):
        assert not await rows(
            dsn(stack, B),
            "SELECT 1 FROM quarantine WHERE topic = $1 AND kafka_partition = $2"
            " AND kafka_offset = $3",
            inbox_topic(B),
            partition,
            offset,
        )


async def test_redrive_refuses_what_still_fails_and_accepts_what_now_verifies(
    injected: dict[str, Injected], node: Node, keys: Keys, stack: StackEndpoints
) -> None:
    bad = await eventually(
        lambda: _quarantined(stack, injected["bad signature"]), what="bad signature quarantined"
    )
    refused = await tongban("quarantine", "redrive", str(bad["id"]), "--region", B)
    assert refused.returncode == 1
    assert "bad-signature" in refused.stderr
    assert (await _quarantined(stack, injected["bad signature"]))["redriven_at"] is None

    unknown = injected["unknown key"]
    row = await eventually(lambda: _quarantined(stack, unknown), what="unknown key quarantined")
    listed = json.loads((await tongban("quarantine", "list", "--region", B, "--json")).stdout)
    assert row["id"] in {r["id"] for r in listed}

    # The directory update that lists the key: the same bytes now verify.
    keys.admin.add_signing_key(SENDER, keys.unlisted_entry)
    keys.admin.publish(datetime.now(UTC))
    done = await tongban("quarantine", "redrive", str(row["id"]), "--region", B)
    assert done.returncode == 0, done.stderr
    assert (await _quarantined(stack, unknown))["redriven_at"] is not None
    [stored] = await rows(
        dsn(stack, B), "SELECT envelope FROM inbox WHERE case_no = $1", unknown.case_no
    )
    assert bytes(stored["envelope"]) == unknown.raw

    async def started() -> int:
        return (await node.client.count_workflows(f"CaseNo = '{unknown.case_no}'")).count

    # Listed once visibility caught up; a second workflow would be listed beside it.
    workflows = await eventually(
        started, until=lambda n: n > 0, what="the redriven forwarded event to start a workflow"
    )
    assert workflows == 1
    again = await tongban("quarantine", "redrive", str(row["id"]), "--region", B)
    assert again.returncode == 1  # redriven once only
