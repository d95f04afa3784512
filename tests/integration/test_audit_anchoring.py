"""`tongban audit verify` sees what the hash chain alone cannot: rows deleted from the end of a
region's log (the heads its peers hold from its signed receipts), and envelopes taken in
after their signing key was revoked.

A real 福建/广东 pair runs one case on the shared Kafka and Temporal, each node on its own
scratch database, so the tampering here never touches the regions' real logs (the fault suite
audits those whole). The audit reads both databases through an operators' endpoints file, as
it would in production.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pydantic import SecretStr

from deploy.stack.migrations import apply_migrations
from deploy.stack.settings import StackEndpoints, StackSettings
from events.directory_admin import DirectoryAdmin
from events.envelope import Envelope
from events.keystore import KeyStore
from events.message_log import chain_hash
from regions.local import ensure_local_keys, local_node_settings, trust_dir
from regions.node import node_services
from regions.node_process import NodeProcess
from regions.window import submit_case
from tests.integration.automatic import AUTOMATIC_ENV, AUTOMATIC_POLICIES
from tests.integration.exchange_support import (
    RECEIPT,
    application,
    rows,
    start_node,
)
from tests.support.stack_access import temporal_client
from tests.waiting import eventually

pytestmark = pytest.mark.integration

A, B = "350000", "440000"  # 福建 accepts the case, 广东 processes it


@dataclass
class Pair:
    dsns: dict[str, str]
    temporal_address: str
    trust: Path
    case_no: str


async def _scratch_database(server_dsn: str, region: str) -> str:
    name = f"tongban_anchor_{secrets.token_hex(3)}_{region}"
    server = await asyncpg.connect(server_dsn)
    try:
        await server.execute(f'CREATE DATABASE "{name}"')
    finally:
        await server.close()
    return urlunsplit(urlsplit(server_dsn)._replace(path=f"/{name}"))


async def _drop(server_dsn: str, dsn: str) -> None:
    name = urlsplit(dsn).path.lstrip("/")
    server = await asyncpg.connect(server_dsn)
    try:
        await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await server.close()


async def _all_receipted(dsn: str, case_no: str) -> bool:
    found = await rows(
        dsn,
        "SELECT receipted_at IS NOT NULL AS done FROM outbox"
        " WHERE case_no = $1 AND event_type <> $2",
        case_no,
        RECEIPT,
    )
    return bool(found) and all(r["done"] for r in found)


async def _run_case(stack: StackEndpoints, settings: StackSettings, dsns: dict[str, str]) -> str:
    clients = {r: await temporal_client(settings, stack, r) for r in (A, B)}
    nodes: list[NodeProcess] = []
    try:
        for region in (A, B):
            env = {**AUTOMATIC_ENV, "TONGBAN_NODE_POSTGRES_DSN": dsns[region]}
            nodes.append(await start_node(stack, settings, region, clients[region], env))
        window = local_node_settings(A, settings, stack).model_copy(
            update={"postgres_dsn": SecretStr(dsns[A])}
        )
        async with node_services(window) as services:
            handle = await submit_case(
                pool=services.pool,
                client=services.client,
                credentials=services.credentials,
                application=application(B),
                policies=AUTOMATIC_POLICIES,
            )
        await asyncio.wait_for(handle.result(), timeout=90)
        case_no = handle.id.removeprefix("intake-")
        # Every business event answered both ways: each side holds heads of the other's log.
        for region in (A, B):
            await eventually(
                functools.partial(_all_receipted, dsns[region], case_no),
                what=f"receipts for {region}'s events",
            )
    finally:
        # Stopped before any test tampers: no node appends to a log under audit.
        for node in nodes:
            node.stop()
    return case_no


@pytest.fixture(scope="module")
async def pair(stack: StackEndpoints, stack_settings: StackSettings) -> AsyncIterator[Pair]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    dsns: dict[str, str] = {}
    try:
        for region in (A, B):
            dsns[region] = await _scratch_database(stack.postgres_dsn, region)
            await apply_migrations(dsns[region], stack_settings.migrations_dir)
        case_no = await _run_case(stack, stack_settings, dsns)
        yield Pair(dsns, stack.temporal_address, trust_dir(stack_settings), case_no)
    finally:
        for dsn in dsns.values():
            await _drop(stack.postgres_dsn, dsn)


def _endpoints_file(pair: Pair, folder: Path, trust: Path | None = None) -> Path:
    path = folder / "endpoints.json"
    regions = {
        code: {"temporal_address": pair.temporal_address, "postgres_dsn": dsn}
        for code, dsn in pair.dsns.items()
    }
    path.write_text(json.dumps({"trust_dir": str(trust or pair.trust), "regions": regions}))
    return path


def _audit(region: str, endpoints: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "regions.cli",
            "audit",
            "verify",
            "--region",
            region,
            "--endpoints",
            str(endpoints),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )


_COLUMNS = "seq, direction, event_id, envelope, logged_at, prev_hash, hash"


async def _as_owner(dsn: str, *statements: tuple[str, tuple[object, ...]]) -> None:
    """What a database owner can do: switch the append-only triggers off for a session."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")
        for sql, args in statements:
            await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _newest_anchor(pair: Pair, holder: str, region: str) -> int:
    found = await rows(
        pair.dsns[holder], "SELECT max(seq) AS seq FROM log_anchors WHERE region = $1", region
    )
    seq: int = found[0]["seq"]
    return seq


async def _tail(dsn: str, below: int) -> list[asyncpg.Record]:
    """The rows from the last one before seq `below` to the end of the log."""
    return await rows(
        dsn,
        f"SELECT {_COLUMNS} FROM message_log"
        " WHERE seq >= (SELECT max(seq) FROM message_log WHERE seq < $1) ORDER BY seq",
        below,
    )


def _put_back(tail: list[asyncpg.Record]) -> list[tuple[str, tuple[object, ...]]]:
    return [("DELETE FROM message_log WHERE seq >= $1", (tail[0]["seq"],))] + [
        (
            f"INSERT INTO message_log ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            tuple(r.values()),
        )
        for r in tail
    ]


async def test_both_logs_hold_every_head_their_peer_was_told_of(pair: Pair, tmp_path: Path) -> None:
    endpoints = _endpoints_file(pair, tmp_path)
    for region, peer in ((A, B), (B, A)):
        held = await rows(
            pair.dsns[peer], "SELECT count(*) AS n FROM log_anchors WHERE region = $1", region
        )
        assert held[0]["n"] > 0, f"{peer} holds no head of {region}'s log"
        result = await asyncio.to_thread(_audit, region, endpoints, "--peers")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"held by peers ({peer})" in result.stdout


async def test_deleting_the_newest_rows_is_named_with_the_missing_range(
    pair: Pair, tmp_path: Path
) -> None:
    endpoints = _endpoints_file(pair, tmp_path)
    newest = await _newest_anchor(pair, A, B)
    tail = await _tail(pair.dsns[B], newest)
    await _as_owner(pair.dsns[B], ("DELETE FROM message_log WHERE seq >= $1", (tail[0]["seq"],)))
    try:
        # What is left still links: the chain and signatures alone see nothing wrong.
        alone = await asyncio.to_thread(_audit, B, endpoints)
        assert alone.returncode == 0, alone.stdout + alone.stderr

        result = await asyncio.to_thread(_audit, B, endpoints, "--peers")
        assert result.returncode == 1, result.stdout + result.stderr
        last_kept = (await rows(pair.dsns[B], "SELECT max(seq) AS seq FROM message_log"))[0]
        assert (
            f"rows {last_kept['seq'] + 1}..{newest} missing:"
            f" newest anchored head held by {A} is seq {newest}"
        ) in result.stdout
    finally:
        await _as_owner(pair.dsns[B], *_put_back(tail))
    restored = await asyncio.to_thread(_audit, B, endpoints, "--peers")
    assert restored.returncode == 0, restored.stdout


async def test_newest_rows_rewritten_with_a_valid_chain_are_named(
    pair: Pair, tmp_path: Path
) -> None:
    # The owner swaps the last two anchored rows and recomputes their hashes: the chain links
    # and every envelope is genuine, but the newest anchored row is not the one 福建 was told of.
    endpoints = _endpoints_file(pair, tmp_path)
    newest = await _newest_anchor(pair, A, B)
    tail = await _tail(pair.dsns[B], newest)
    before, at_newest = tail[0], tail[1]
    prev = (
        await rows(
            pair.dsns[B],
            "SELECT hash FROM message_log WHERE seq < $1 ORDER BY seq DESC LIMIT 1",
            before["seq"],
        )
    )[0]["hash"]
    statements: list[tuple[str, tuple[object, ...]]] = [
        ("DELETE FROM message_log WHERE seq >= $1", (before["seq"],))
    ]
    for seq, row in ((before["seq"], at_newest), (at_newest["seq"], before)):
        link = chain_hash(bytes(prev), row["direction"], row["event_id"], bytes(row["envelope"]))
        statements.append(
            (
                f"INSERT INTO message_log ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                (
                    seq,
                    row["direction"],
                    row["event_id"],
                    row["envelope"],
                    row["logged_at"],
                    prev,
                    link,
                ),
            )
        )
        prev = link
    await _as_owner(pair.dsns[B], *statements)
    try:
        alone = await asyncio.to_thread(_audit, B, endpoints)
        assert alone.returncode == 0, alone.stdout + alone.stderr

        result = await asyncio.to_thread(_audit, B, endpoints, "--peers")
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"row seq {newest}: not the row {A} was told of" in result.stdout
    finally:
        await _as_owner(pair.dsns[B], *_put_back(tail))


async def test_a_head_without_its_signed_receipt_is_not_taken_as_evidence(
    pair: Pair, tmp_path: Path
) -> None:
    # A holder's owner could write any row into its own anchors; only a receipt signed by
    # the anchored region makes it count, so 广东 cannot be framed by a row 福建 made up.
    endpoints = _endpoints_file(pair, tmp_path)
    forged_seq = 10**9
    conn = await asyncpg.connect(pair.dsns[A])
    try:
        await conn.execute(
            "INSERT INTO log_anchors (region, seq, hash, receipt_event_id)"
            " VALUES ($1, $2, $3, 'made-up')",
            B,
            forged_seq,
            bytes(32),
        )
    finally:
        await conn.close()
    try:
        result = await asyncio.to_thread(_audit, B, endpoints, "--peers")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "missing" not in result.stdout
        assert f"anchor not used, seq {forged_seq} held by {A}" in result.stdout
    finally:
        await _as_owner(pair.dsns[A], ("DELETE FROM log_anchors WHERE seq = $1", (forged_seq,)))


async def _taken_in_from(dsn: str, sender: str) -> list[tuple[int, datetime, str]]:
    """(seq, receipt time, key id) of every envelope from `sender` that this log accepted."""
    found = []
    for r in await rows(
        dsn,
        "SELECT seq, envelope, logged_at FROM message_log WHERE direction = 'accepted'"
        " ORDER BY seq",
    ):
        envelope = Envelope.model_validate_json(bytes(r["envelope"]))
        if envelope.senderregion == sender:
            found.append((r["seq"], r["logged_at"], envelope.keyid))
    return found


def _revoked_copy(pair: Pair, folder: Path, region: str, key_id: str, at: datetime) -> Path:
    """The shared trust folder, copied, with `key_id` revoked as of `at` and published."""
    copy = folder / "trust"
    shutil.copytree(pair.trust, copy)
    admin = DirectoryAdmin(KeyStore(copy))
    admin.revoke(region, key_id, now=at)
    admin.publish(datetime.now(at.tzinfo))
    return copy


async def test_envelopes_received_after_their_key_was_revoked_are_flagged(
    pair: Pair, tmp_path: Path
) -> None:
    taken_in = await _taken_in_from(pair.dsns[B], A)
    assert len(taken_in) >= 2
    assert len({key for _, _, key in taken_in}) == 1
    (first_seq, first_at, key_id), (_, second_at, _) = taken_in[:2]
    assert second_at > first_at
    # A compromise found out later: the key is revoked as of a moment between two receipts.
    revoked_at = first_at + (second_at - first_at) / 2
    trust = _revoked_copy(pair, tmp_path, A, key_id, revoked_at)
    result = await asyncio.to_thread(_audit, B, _endpoints_file(pair, tmp_path, trust))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"row seq {first_seq}:" not in result.stdout
    for seq, _, _ in taken_in[1:]:
        assert f"row seq {seq}: key {key_id} was revoked at" in result.stdout


async def test_a_key_revoked_after_every_receipt_leaves_the_log_intact(
    pair: Pair, tmp_path: Path
) -> None:
    taken_in = await _taken_in_from(pair.dsns[B], A)
    last_at, key_id = taken_in[-1][1], taken_in[-1][2]
    trust = _revoked_copy(pair, tmp_path, A, key_id, last_at + timedelta(seconds=1))
    result = await asyncio.to_thread(_audit, B, _endpoints_file(pair, tmp_path, trust))
    assert result.returncode == 0, result.stdout + result.stderr
