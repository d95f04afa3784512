"""Per-region Kafka principals and ACLs, against the real local broker's SCRAM listener.

Region A (350000) and B (440000) get fresh SCRAM passwords and their ACLs
(deploy/stack/kafka_acls.py). Then, authenticated as B: B may write to A's inbox and read
its own inbox with its own group; B may not read A's inbox, may not use A's group, may not
write to its own inbox; and nobody gets in as A with B's password.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from deploy.stack import kafka
from deploy.stack.kafka_acls import SCRAM_MECHANISM, join_regions, principal_name
from deploy.stack.settings import StackEndpoints, StackSettings
from events.topics import consumer_group, inbox_topic
from tests.support.stack_access import dev_stack_only

pytestmark = [
    pytest.mark.integration,
    dev_stack_only(
        "sets region passwords and ACLs on the dev stack's SASL_PLAINTEXT listener; the "
        "cluster's are `up`'s (test_cluster_smoke: a region cannot write its own inbox)"
    ),
]

A, B = "350000", "440000"
WAIT_S = 60.0


async def _sasl_listener_open(settings: StackSettings) -> bool:
    try:
        _, writer = await asyncio.open_connection("localhost", settings.sasl_port)
    except OSError:
        return False
    writer.close()
    return True


@pytest.fixture(scope="module")
async def passwords(stack: StackEndpoints, stack_settings: StackSettings) -> dict[str, str]:
    if not await _sasl_listener_open(stack_settings):
        pytest.fail(
            f"no SASL listener on localhost:{stack_settings.sasl_port}: the broker predates "
            "it; run `tongban stack down && tongban stack up` (storage is kept)"
        )
    fresh = {A: secrets.token_urlsafe(18), B: secrets.token_urlsafe(18)}
    await asyncio.to_thread(
        join_regions, stack_settings.state_dir, stack.kafka_bootstrap, dict(fresh)
    )
    return fresh


def _as(settings: StackSettings, user: str, password: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": kafka.sasl_bootstrap(settings),
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": SCRAM_MECHANISM,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
        "request_timeout_ms": 20_000,
    }


@pytest.fixture
async def producer_b(
    stack_settings: StackSettings, passwords: dict[str, str]
) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        **_as(stack_settings, principal_name(B), passwords[B]), enable_idempotence=True
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def _consume_at(
    settings: StackSettings, region: str, password: str, tp: TopicPartition, offset: int, group: str
) -> bytes | None:
    consumer = AIOKafkaConsumer(
        **_as(settings, principal_name(region), password),
        group_id=group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(), WAIT_S)
        await consumer.commit()  # offsets live in the group: needs READ on the group
        value: bytes | None = record.value
        return value
    finally:
        await consumer.stop()


async def test_b_writes_to_a_inbox_and_reads_its_own(
    stack_settings: StackSettings, passwords: dict[str, str], producer_b: AIOKafkaProducer
) -> None:
    sent = await producer_b.send_and_wait(inbox_topic(A), b"from B", key=b"acl-test")
    assert sent.topic == inbox_topic(A)

    producer_a = AIOKafkaProducer(**_as(stack_settings, principal_name(A), passwords[A]))
    await producer_a.start()
    try:
        marker = f"from A {secrets.token_hex(4)}".encode()
        meta = await producer_a.send_and_wait(inbox_topic(B), marker, key=b"acl-test")
    finally:
        await producer_a.stop()
    tp = TopicPartition(inbox_topic(B), meta.partition)
    got = await _consume_at(stack_settings, B, passwords[B], tp, meta.offset, consumer_group(B))
    assert got == marker


async def test_b_cannot_read_a_inbox(
    stack_settings: StackSettings, passwords: dict[str, str]
) -> None:
    tp = TopicPartition(inbox_topic(A), 0)
    with pytest.raises(TopicAuthorizationFailedError):
        await _consume_at(stack_settings, B, passwords[B], tp, 0, consumer_group(B))


async def test_b_cannot_use_a_consumer_group(
    stack_settings: StackSettings, passwords: dict[str, str], producer_b: AIOKafkaProducer
) -> None:
    # Even on a topic B may read (its own inbox), A's group (A's committed offsets) is A's.
    tp = TopicPartition(inbox_topic(B), 0)
    with pytest.raises(GroupAuthorizationFailedError):
        await _consume_at(stack_settings, B, passwords[B], tp, 0, consumer_group(A))


async def test_b_cannot_write_to_its_own_inbox(producer_b: AIOKafkaProducer) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(producer_b.send_and_wait(inbox_topic(B), b"self"), WAIT_S)


async def test_no_one_authenticates_as_a_with_b_password(
    stack_settings: StackSettings, passwords: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    producer = AIOKafkaProducer(**_as(stack_settings, principal_name(A), passwords[B]))
    with pytest.raises(KafkaError):
        await asyncio.wait_for(producer.start(), WAIT_S)
    await producer.stop()
    # aiokafka reports "unable to bootstrap"; the broker's reason is in its connection log.
    assert "SaslAuthenticationFailed" in caplog.text
    # ...while A's own password does authenticate: the failure above is the password's.
    genuine = AIOKafkaProducer(**_as(stack_settings, principal_name(A), passwords[A]))
    await genuine.start()
    await genuine.stop()
