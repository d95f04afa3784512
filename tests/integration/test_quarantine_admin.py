"""Bounded quarantine for operators: where refused records come from, and pruning by age."""

from __future__ import annotations

import hashlib
import json
import secrets

import pytest

from deploy.stack.settings import StackEndpoints
from events.topics import inbox_topic
from tests.integration.exchange_support import dsn, rows, tongban

pytestmark = pytest.mark.integration

REGION = "350200"  # no test runs a node for it: its quarantine holds only these rows


async def _insert(stack: StackEndpoints, sender: str | None, age_days: int) -> int:
    raw = secrets.token_bytes(16)
    [row] = await rows(
        dsn(stack, REGION),
        "INSERT INTO quarantine (reason, detail, raw, raw_sha256, raw_length, topic,"
        " kafka_partition, kafka_offset, claimed_sender, received_at)"
        " VALUES ('bad-signature', 'test', $1, $2, $3, $4, 0,"
        "  (SELECT coalesce(max(kafka_offset), 0) + 1 FROM quarantine), $5,"
        "  now() - make_interval(days => $6)) RETURNING id",
        raw,
        hashlib.sha256(raw).digest(),
        len(raw),
        inbox_topic(REGION),
        sender,
        age_days,
    )
    return int(row["id"])


async def test_senders_show_the_flood_and_prune_removes_only_old_records(
    stack: StackEndpoints,
) -> None:
    await rows(dsn(stack, REGION), "DELETE FROM quarantine WHERE topic = $1", inbox_topic(REGION))
    old = [await _insert(stack, "110000", 120) for _ in range(2)]
    recent = [await _insert(stack, "110000", 0) for _ in range(3)]
    recent.append(await _insert(stack, None, 0))

    listed = await tongban("quarantine", "senders", "--region", REGION, "--json")
    assert listed.returncode == 0, listed.stderr
    counts = {(r["sender"], r["reason"]): r["records"] for r in json.loads(listed.stdout)}
    assert counts == {("110000", "bad-signature"): 3, ("?", "bad-signature"): 1}

    dry = await tongban(
        "quarantine", "prune", "--region", REGION, "--older-than-days", "90", "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
    assert "would delete 2 " in dry.stdout
    assert len(await rows(dsn(stack, REGION), "SELECT id FROM quarantine")) == 6

    pruned = await tongban("quarantine", "prune", "--region", REGION, "--older-than-days", "90")
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 2 " in pruned.stdout
    left = {r["id"] for r in await rows(dsn(stack, REGION), "SELECT id FROM quarantine")}
    assert left == set(recent)
    assert not left & set(old)
