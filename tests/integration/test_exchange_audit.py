"""`tongban audit verify` detects any single altered, removed or re-chained message-log row.

Each test builds a fresh scratch database with the real migrations and a log of envelopes
signed with the local regions' keys, then tampers with it as an attacker with database
access would: the append-only trigger is disabled first.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from deploy.stack.migrations import apply_migrations
from deploy.stack.settings import StackEndpoints, StackSettings
from events import message_log
from events.models import EventType
from regions.local import ensure_local_keys
from tests.integration.exchange_support import credentials, new_case_no, signed

pytestmark = pytest.mark.integration

REGION, PEER = "440000", "350000"
ROWS = 6
TAMPERED_SEQ = 3


@pytest.fixture
async def scratch(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[str]:
    """A throwaway database holding a valid log: sent and accepted envelopes alternating."""
    ensure_local_keys(stack_settings, stack_settings.regions)
    name = f"tongban_audit_{secrets.token_hex(4)}"
    server = await asyncpg.connect(stack.postgres_dsn)
    await server.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(urlsplit(stack.postgres_dsn)._replace(path=f"/{name}"))
    try:
        await apply_migrations(dsn, stack_settings.migrations_dir)
        conn = await asyncpg.connect(dsn)
        try:
            for i in range(ROWS):
                case_no = new_case_no(PEER)
                sender, recipient = (REGION, PEER) if i % 2 == 0 else (PEER, REGION)
                envelope = signed(
                    credentials(stack_settings, sender),
                    EventType.WITHDRAWN if sender == PEER else EventType.CANCELLED,
                    case_no=case_no,
                    recipient=recipient,
                    data={"case_no": case_no, "reason": f"row {i}"}
                    if sender == PEER
                    else {"case_no": case_no, "revoked": []},
                )
                async with conn.transaction():
                    await message_log.append(
                        conn,
                        "sent" if sender == REGION else "accepted",
                        envelope.id,
                        envelope.to_wire(),
                    )
        finally:
            await conn.close()
        yield dsn
    finally:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()


def _audit(dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regions.cli", "audit", "verify", "--region", REGION],
        capture_output=True,
        text=True,
        env={**os.environ, "TONGBAN_NODE_POSTGRES_DSN": dsn},
        timeout=60,
        check=False,
    )


async def _as_attacker(dsn: str, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER TABLE message_log DISABLE TRIGGER message_log_no_update")
        for sql, args in statements:
            await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _row(dsn: str, seq: int) -> asyncpg.Record:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM message_log WHERE seq = $1", seq)
    finally:
        await conn.close()
    assert row is not None
    return row


def _reworded(envelope: bytes) -> bytes:
    document = json.loads(envelope)
    document["data"]["reason"] = "rewritten"
    return json.dumps(document).encode()


async def test_an_intact_log_passes(scratch: str) -> None:
    result = await asyncio.to_thread(_audit, scratch)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{ROWS} rows" in result.stdout


@pytest.mark.parametrize("column", ["envelope", "event_id", "direction", "prev_hash", "hash"])
async def test_altering_any_column_of_one_row_is_named(scratch: str, column: str) -> None:
    row = await _row(scratch, TAMPERED_SEQ)
    altered: object = {
        "envelope": _reworded(bytes(row["envelope"])),
        "event_id": row["event_id"] + "x",
        "direction": "sent" if row["direction"] == "accepted" else "accepted",
        "prev_hash": bytes(32),
        "hash": bytes(32),
    }[column]
    await _as_attacker(
        scratch,
        (f"UPDATE message_log SET {column} = $1 WHERE seq = $2", (altered, TAMPERED_SEQ)),
    )
    result = await asyncio.to_thread(_audit, scratch)
    assert result.returncode == 1
    assert f"row seq {TAMPERED_SEQ}:" in result.stdout


async def test_removing_a_row_is_named_at_the_next_one(scratch: str) -> None:
    await _as_attacker(scratch, ("DELETE FROM message_log WHERE seq = $1", (TAMPERED_SEQ,)))
    result = await asyncio.to_thread(_audit, scratch)
    assert result.returncode == 1
    assert f"row seq {TAMPERED_SEQ + 1}: hash chain" in result.stdout


async def test_a_rewrite_with_the_chain_recomputed_fails_on_its_signature(scratch: str) -> None:
    # The attacker fixes every later hash, so the chain alone looks intact; only the
    # sender's signature, which the attacker cannot make, gives the rewrite away.
    statements = []
    prev = bytes((await _row(scratch, TAMPERED_SEQ - 1))["hash"])
    for seq in range(TAMPERED_SEQ, ROWS + 1):
        row = await _row(scratch, seq)
        envelope = bytes(row["envelope"])
        if seq == TAMPERED_SEQ:
            envelope = _reworded(envelope)
        new_hash = message_log.chain_hash(prev, row["direction"], row["event_id"], envelope)
        statements.append(
            (
                "UPDATE message_log SET envelope = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
                (envelope, prev, new_hash, seq),
            )
        )
        prev = new_hash
    await _as_attacker(scratch, *statements)
    conn = await asyncpg.connect(scratch)
    try:
        assert await message_log.verify_chain(conn) is None
    finally:
        await conn.close()
    result = await asyncio.to_thread(_audit, scratch)
    assert result.returncode == 1
    assert f"row seq {TAMPERED_SEQ}: signature" in result.stdout
