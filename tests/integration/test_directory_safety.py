"""The trust directory against a running 440000 node: no rollback, no silent expiry.

Both tests change the local stack's shared trust folder, so each ends by publishing a new,
valid version: every node's floor only rises, and the next test (of any module) must find a
directory at least as new as the one its nodes accepted before.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from deploy.stack.settings import StackEndpoints, StackSettings
from events.directory_admin import DirectoryAdmin
from events.envelope import Envelope
from events.keystore import KeyStore
from events.models import EventType
from events.outbox import signed_envelope
from events.rejections import RejectReason
from events.signing import RegionSigner
from events.topics import inbox_topic
from events.trust import KeyEntry
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
)
from tests.support.stack_access import Bus, temporal_client
from tests.waiting import eventually

pytestmark = pytest.mark.integration

B, SENDER = "440000", "350100"  # no node runs for 350100: its receipts go unread
API_PORT_BASE = 18740  # off the ports other suites' nodes use
READYZ = f"http://127.0.0.1:{API_PORT_BASE + 2}/readyz"  # 440000's offset is 2
ENV = {"TONGBAN_NODE_API_PORT_BASE": str(API_PORT_BASE)}


@dataclass
class Setting:
    stack: StackEndpoints
    stack_settings: StackSettings
    admin: DirectoryAdmin
    client: Client
    bus: Bus

    @property
    def node_log(self) -> Path:
        return self.stack_settings.state_dir / "test-nodes" / f"node-{B}.log"

    def log_size(self) -> int:
        return self.node_log.stat().st_size if self.node_log.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.node_log.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    async def start(self) -> NodeProcess:
        return await start_node(self.stack, self.stack_settings, B, self.client, ENV)

    async def floor(self) -> int | None:
        found = await rows(dsn(self.stack, B), "SELECT version FROM directory_floor")
        return found[0]["version"] if found else None

    def restore(self) -> None:
        """A new, valid version: above whatever any node accepted during the test."""
        self.admin.draft_path.unlink(missing_ok=True)
        self.admin.publish(datetime.now(UTC))


@pytest.fixture
async def setting(
    stack: StackEndpoints, stack_settings: StackSettings, bus: Bus
) -> AsyncIterator[Setting]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    admin = DirectoryAdmin(KeyStore(trust_dir(stack_settings)))
    client = await temporal_client(stack_settings, stack, B)
    setting = Setting(stack, stack_settings, admin, client, bus)
    try:
        yield setting
    finally:
        setting.restore()


def _withdrawal(signer: RegionSigner) -> tuple[str, bytes]:
    """A valid withdrawal of a case B never saw: stored once, signals no running workflow."""
    case_no = new_case_no(SENDER)
    now = datetime.now(UTC)
    envelope = signed_envelope(
        signer,
        event_type=EventType.WITHDRAWN,
        case_no=case_no,
        step=f"withdrawn-{secrets.token_hex(4)}",
        recipient=B,
        data={"case_no": case_no, "reason": "申请人撤回"},
        now=now,
    )
    return case_no, envelope.to_wire()


async def _outcome(stack: StackEndpoints, bus: Bus, raw: bytes, case_no: str) -> str:
    """Where the record ended: "inbox", or the reason it was quarantined."""
    partition, offset = await produce(bus, B, raw, case_no.encode())
    event_id = Envelope.model_validate_json(raw).id

    async def landed() -> str | None:
        stored = await rows(dsn(stack, B), "SELECT 1 FROM inbox WHERE event_id = $1", event_id)
        if stored:
            return "inbox"
        refused: list[Any] = await rows(
            dsn(stack, B),
            "SELECT reason FROM quarantine WHERE topic = $1 AND kafka_partition = $2"
            " AND kafka_offset = $3",
            inbox_topic(B),
            partition,
            offset,
        )
        return str(refused[0]["reason"]) if refused else None

    return await eventually(landed, what=f"record {case_no} stored or quarantined")


def _sender_key(now: datetime) -> tuple[RegionSigner, KeyEntry]:
    return throwaway_key(SENDER, "rollback", now - timedelta(hours=1), now + timedelta(days=9))


async def test_a_rolled_back_directory_file_is_refused_across_a_restart(
    setting: Setting,
) -> None:
    """The attack: put back an older, validly signed directory that still lists a key revoked
    since, restart the node, and sign with the revoked key."""
    now = datetime.now(UTC)
    path = setting.admin.store.directory_path
    signer, entry = _sender_key(now)
    setting.admin.add_signing_key(SENDER, entry)
    setting.admin.publish(now)
    listing_the_key = path.read_bytes()
    setting.admin.revoke(SENDER, entry.key_id, now)
    revoking = setting.admin.publish(now)

    node = await setting.start()
    try:
        assert await eventually(
            lambda: _at_least(setting, revoking.version), what="the floor raised"
        )
        node.stop()
        path.write_bytes(listing_the_key)  # the rollback
        log_offset = setting.log_size()
        node = await setting.start()  # it starts: its database holds the newer directory

        case_no, raw = _withdrawal(signer)
        assert (
            await _outcome(setting.stack, setting.bus, raw, case_no)
            == RejectReason.KEY_REVOKED.value
        )
        assert f"older than version {revoking.version}" in setting.log_since(log_offset)
        assert await setting.floor() == revoking.version

        current = credentials(setting.stack_settings, SENDER).signer(now)
        case_no, raw = _withdrawal(current)
        assert (
            await _outcome(setting.stack, setting.bus, raw, case_no) == "inbox"
        )  # otherwise unaffected
    finally:
        node.stop()


async def _at_least(setting: Setting, version: int) -> bool:
    floor = await setting.floor()
    return floor is not None and floor >= version


async def _ready(expect: int) -> dict[str, Any] | None:
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(READYZ)
    except httpx.TransportError:
        return None  # the API is not listening yet
    body: dict[str, Any] = answer.json()
    return body if answer.status_code == expect else None


async def test_an_expired_directory_quarantines_records_and_makes_the_node_unready(
    setting: Setting,
) -> None:
    log_offset = setting.log_size()
    node = await setting.start()
    try:
        await eventually(lambda: _ready(200), what="/readyz 200")
        now = datetime.now(UTC)
        expired = setting.admin.publish(now - timedelta(days=2), timedelta(days=1))

        body = await eventually(lambda: _ready(503), what="/readyz 503")
        assert body["ready"] is False
        assert body["trust_directory"].startswith(f"trust directory v{expired.version} expired")

        signer = credentials(setting.stack_settings, SENDER).signer(now)
        case_no, raw = _withdrawal(signer)
        assert await _outcome(setting.stack, setting.bus, raw, case_no) == (
            RejectReason.DIRECTORY_EXPIRED.value
        )
        said = setting.log_since(log_offset)
        assert "every inbound record is quarantined as directory-expired" in said

        setting.restore()
        await eventually(lambda: _ready(200), what="/readyz 200 after a new publication")
        case_no, raw = _withdrawal(signer)
        assert await _outcome(setting.stack, setting.bus, raw, case_no) == "inbox"
    finally:
        node.stop()
