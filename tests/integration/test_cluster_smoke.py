"""The cluster profile runs: a workflow on Temporal's own server through mTLS, a record through
the three-broker exchange with acks=all, and producing goes on with one broker killed.

Runs only with TONGBAN_STACK_PROFILE=cluster (`tongban stack up --profile cluster` first, or
the session fixture starts it): the default `make test` skips it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.service import RPCError, TLSConfig
from temporalio.worker import Worker

from deploy.stack import cluster, cluster_kafka, cluster_temporal
from deploy.stack.cluster_layout import BROKER_IDS, ClusterLayout
from deploy.stack.cluster_postgres import ClusterPostgres
from deploy.stack.settings import StackEndpoints, StackSettings
from events.topics import inbox_topic
from regions.local import local_node_settings
from tests.support.stack_access import temporal_client

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("TONGBAN_STACK_PROFILE") != "cluster",
        reason="the cluster profile runs with TONGBAN_STACK_PROFILE=cluster",
    ),
]

SENDER, RECIPIENT = "350000", "440000"


@activity.defn
async def stamp(text: str) -> str:
    return f"办结:{text}"


@workflow.defn(sandboxed=False)
class Smoke:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            stamp, text, start_to_close_timeout=timedelta(seconds=30)
        )


@pytest.fixture(scope="module")
def layout(stack: StackEndpoints, stack_settings: StackSettings) -> ClusterLayout:
    assert stack_settings.stack_profile == "cluster"
    return ClusterLayout.of(stack_settings)


@pytest.fixture(scope="module")
def access(layout: ClusterLayout) -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads(layout.stack_file.read_text())["access"]
    return recorded


def _read_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


async def test_a_workflow_runs_on_the_cluster_through_mtls(
    stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    client = await temporal_client(stack_settings, stack, SENDER)
    queue = f"smoke-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[Smoke], activities=[stamp]):
        result = await client.execute_workflow(
            Smoke.run, "跨省通办", id=f"smoke-{uuid.uuid4()}", task_queue=queue
        )
    assert result == "办结:跨省通办"


async def test_the_frontend_refuses_a_client_without_a_certificate(
    stack: StackEndpoints, access: dict[str, Any]
) -> None:
    no_cert = TLSConfig(server_root_ca_cert=_read_bytes(access["ca"]), domain="localhost")
    # Client.connect asks the frontend for its system info: the TLS handshake fails first.
    with pytest.raises((RPCError, RuntimeError)):
        await Client.connect(stack.temporal_address, namespace=f"region-{SENDER}", tls=no_cert)


async def test_history_is_spread_over_several_shards(layout: ClusterLayout) -> None:
    dsn = ClusterPostgres.of(layout).socket_dsn.replace("/postgres?", "/temporal?")
    conn = await asyncpg.connect(dsn)
    try:
        shards = await conn.fetchval("SELECT count(*) FROM shards")
    finally:
        await conn.close()
    assert shards == cluster_temporal.NUM_HISTORY_SHARDS


# ------------------------------------------------------------------------------ Kafka


def _region_client(settings: StackSettings, stack: StackEndpoints, region: str) -> dict[str, Any]:
    """As the region's node connects: its SCRAM principal over TLS."""
    return local_node_settings(region, settings, stack).kafka.client_options()


@pytest.fixture
async def producer(
    stack: StackEndpoints, stack_settings: StackSettings
) -> AsyncIterator[AIOKafkaProducer]:
    # Idempotence forces acks=all: a send is acknowledged once min.insync.replicas have it.
    sender = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap,
        enable_idempotence=True,
        request_timeout_ms=30_000,
        **_region_client(stack_settings, stack, SENDER),
    )
    await sender.start()
    try:
        yield sender
    finally:
        await sender.stop()


async def _read(
    stack: StackEndpoints, settings: StackSettings, partition: TopicPartition, offset: int
) -> bytes:
    # Assigned, not subscribed: the recipient's consumer group (a node's) is left untouched.
    reader = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap,
        enable_auto_commit=False,
        **_region_client(settings, stack, RECIPIENT),
    )
    await reader.start()
    try:
        reader.assign([partition])
        reader.seek(partition, offset)
        record = await reader.getone()
    finally:
        await reader.stop()
    assert record.value is not None
    return bytes(record.value)


async def test_a_record_is_replicated_and_survives_a_killed_leader(
    stack: StackEndpoints,
    stack_settings: StackSettings,
    layout: ClusterLayout,
    producer: AIOKafkaProducer,
) -> None:
    topic = inbox_topic(RECIPIENT)
    key = f"{SENDER}2026{uuid.uuid4().hex[:8]}".encode()
    first = await producer.send_and_wait(topic, b"forwarded", key=key)
    leader, in_sync = await cluster_kafka.partition_leader(layout, topic, first.partition)
    assert in_sync == len(BROKER_IDS)
    assert await _read(stack, stack_settings, first.topic_partition, first.offset) == b"forwarded"

    try:
        assert cluster.kill_member(stack_settings, cluster_kafka.service_name(leader))
        # Same key, same partition: its leader is gone, two replicas remain in sync.
        second = await producer.send_and_wait(topic, b"accepted", key=key)
        assert second.partition == first.partition
        assert second.offset > first.offset
        new_leader, _ = await cluster_kafka.partition_leader(layout, topic, first.partition)
        assert new_leader != leader
        again = await _read(stack, stack_settings, second.topic_partition, second.offset)
        assert again == b"accepted"
    finally:
        await cluster.up(stack_settings)  # the broker back, for whatever runs next
    assert await cluster_kafka.brokers_answering(layout) == len(BROKER_IDS)


async def test_a_region_cannot_write_its_own_inbox_on_the_cluster(
    producer: AIOKafkaProducer,
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await producer.send_and_wait(inbox_topic(SENDER), b"forged", key=b"k")
