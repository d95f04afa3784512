"""Helpers for the exchange tests: nodes with chosen settings, database reads, forged records.

Every test here runs against the real local stack; records are produced straight to a
node's inbox topic, as a forger or a replaying attacker on the bus would.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client, WorkflowHandle

from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.keystore import KeyStore, raw_public
from events.models import EventType
from events.outbox import signed_envelope
from events.signing import RegionSigner
from events.topics import inbox_topic
from events.trust import KeyEntry
from regions.beijing_time import beijing_date
from regions.demo import synthetic_id_number
from regions.local import local_node_settings, trust_dir
from regions.node import node_services
from regions.node_process import NodeProcess, spawn_node, wait_until_polling
from regions.window import Application, material_ref, submit_case
from tests.integration.automatic import AUTOMATIC_POLICIES
from tests.support.stack_access import Bus

RECEIPT = EventType.RECEIPT.value


def new_case_no(region: str) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTUVWXY"
    serial = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"{region}-{beijing_date(datetime.now(UTC)):%Y%m%d}-{serial}"  # as the window numbers


def credentials(settings: StackSettings, region: str) -> RegionCredentials:
    return RegionCredentials(KeyStore(trust_dir(settings)), region)


def signed(
    creds: RegionCredentials,
    event_type: EventType,
    *,
    case_no: str,
    recipient: str,
    data: dict[str, Any],
    at: datetime | None = None,
    step: str | None = None,
) -> Envelope:
    at = at or datetime.now(UTC)
    return signed_envelope(
        creds.signer(at),
        event_type=event_type,
        case_no=case_no,
        step=step or f"{event_type.value}/{secrets.token_hex(4)}",
        recipient=recipient,
        data=data,
        now=at,
    )


async def produce(bus: Bus, region: str, value: bytes, key: bytes) -> tuple[int, int]:
    """(partition, offset) of one record written to `region`'s inbox topic."""
    [placed] = await produce_all(bus, [(region, value, key)])
    return placed


async def produce_all(bus: Bus, records: list[tuple[str, bytes, bytes]]) -> list[tuple[int, int]]:
    """(partition, offset) of each (region, value, key) written, in order, by one producer."""
    # Idempotent: a send retried after a slow acknowledgement must not write a record twice
    # (tests count what the nodes quarantine per record; CI once saw one forged record twice).
    producer = bus.producer(max_request_size=4 * 1024 * 1024, enable_idempotence=True)
    await producer.start()
    placed = []
    try:
        for region, value, key in records:
            meta = await producer.send_and_wait(inbox_topic(region), value, key=key)
            placed.append((meta.partition, meta.offset))
    finally:
        await producer.stop()
    return placed


async def rows(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def dsn(stack: StackEndpoints, region: str) -> str:
    return region_dsn(stack.postgres_dsn, region)


async def start_node(
    stack: StackEndpoints,
    settings: StackSettings,
    region: str,
    client: Client,
    env: dict[str, str] | None = None,
) -> NodeProcess:
    node = spawn_node(region, settings.state_dir / "test-nodes", env=env)
    try:
        await wait_until_polling(client, node)
    except BaseException:
        node.kill()
        raise
    return node


def application(processing_region: str, serial: int = 1) -> Application:
    return Application(
        item_code="GG-00102-000",
        processing_region=processing_region,
        materials=(material_ref("居民身份证"), material_ref("社会保障卡申领登记表")),
        applicant_name=f"测试申请人{secrets.token_hex(3)}",
        applicant_id_number=synthetic_id_number(serial=f"{serial % 1000:03d}"),
        applicant_phone="13800000000",
    )


async def submit(
    stack: StackEndpoints, settings: StackSettings, origin: str, processing: str
) -> tuple[str, WorkflowHandle[Any, Any]]:
    node_settings = local_node_settings(origin, settings, stack)
    async with node_services(node_settings) as services:
        handle = await submit_case(
            pool=services.pool,
            client=services.client,
            credentials=services.credentials,
            application=application(processing),
            policies=AUTOMATIC_POLICIES,
        )
    return handle.id.removeprefix("intake-"), handle


async def tongban(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `tongban ARGS` as an operator would, in its own process (the stack's environment)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "regions.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=60,
        check=False,
    )


def throwaway_key(
    region: str, name: str, not_before: datetime, not_after: datetime
) -> tuple[RegionSigner, KeyEntry]:
    """A fresh signing key for `region`, valid in the window given, and its directory entry
    (to list with DirectoryAdmin.add_signing_key, or to leave out on purpose)."""
    key = Ed25519PrivateKey.generate()
    key_id = f"{region}-test-{name}-{not_before:%H%M%S%f}"
    entry = KeyEntry(
        key_id=key_id, public_key=raw_public(key), not_before=not_before, not_after=not_after
    )
    return RegionSigner(region, key_id, key), entry
