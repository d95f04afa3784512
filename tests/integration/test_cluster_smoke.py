"""The cluster profile runs: a workflow on Temporal's own server through mTLS, each region's
token admitted to its own namespace only, a record through the three-broker exchange with
acks=all, and producing goes on with one broker killed.

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
import jwt
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio import activity, workflow
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode, TLSConfig
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


def _as_node_of(access: dict[str, Any], region: str, ca: str | None = None) -> TLSConfig:
    node = access["nodes"][region]
    return TLSConfig(
        server_root_ca_cert=_read_bytes(ca or access["ca"]),
        client_cert=_read_bytes(node["temporal_tls_cert"]),
        client_private_key=_read_bytes(node["temporal_tls_key"]),
        domain="localhost",
    )


def _token(access: dict[str, Any], region: str) -> str:
    return Path(access["nodes"][region]["temporal_api_key_file"]).read_text().strip()


async def _describe(
    stack: StackEndpoints, tls: TLSConfig, namespace_of: str, token: str | None
) -> None:
    namespace = f"region-{namespace_of}"
    client = await Client.connect(
        stack.temporal_address, namespace=namespace, tls=tls, api_key=token
    )
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))


async def test_a_regions_token_opens_its_own_namespace_and_no_other(
    stack: StackEndpoints, access: dict[str, Any]
) -> None:
    tls, token = _as_node_of(access, SENDER), _token(access, SENDER)
    await _describe(stack, tls, SENDER, token)
    with pytest.raises(RPCError) as described:
        await _describe(stack, tls, RECIPIENT, token)
    assert described.value.status == RPCStatusCode.PERMISSION_DENIED
    other = await Client.connect(
        stack.temporal_address, namespace=f"region-{RECIPIENT}", tls=tls, api_key=token
    )
    with pytest.raises(RPCError) as started:
        await other.start_workflow("Smoke", "越权", id=f"smoke-{uuid.uuid4()}", task_queue="x")
    assert started.value.status == RPCStatusCode.PERMISSION_DENIED


async def test_no_token_or_a_forged_one_is_refused(
    stack: StackEndpoints, access: dict[str, Any]
) -> None:
    genuine = _token(access, SENDER)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    # Same claims and key id, signed by a key the frontend has never seen.
    forged = jwt.encode(
        claims,
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": jwt.get_unverified_header(genuine)["kid"]},
    )
    for token in (None, forged):
        refusal = await _refusal(stack, _as_node_of(access, SENDER), SENDER, token)
        assert "PERMISSIONDENIED" in refusal.upper().replace("_", ""), refusal


async def _refusal(
    stack: StackEndpoints, tls: TLSConfig, namespace_of: str, token: str | None
) -> str:
    """What the frontend said refusing: a token whose signature fails is refused already at
    `Client.connect` (its system-info call); no token only at the first namespace call."""
    try:
        await _describe(stack, tls, namespace_of, token)
    except RPCError as err:
        return err.status.name
    except RuntimeError as err:
        return str(err)
    raise AssertionError(f"admitted to region-{namespace_of} with {token and 'a token'}")


async def test_a_regions_certificate_does_not_reach_the_internal_frontend(
    layout: ClusterLayout, access: dict[str, Any]
) -> None:
    # The internal frontend makes its callers admins; it trusts the internode CA only.
    inner_ca = str(cluster_temporal.internal_tls(layout).ca)
    tls = _as_node_of(access, SENDER, ca=inner_ca)
    with pytest.raises((RPCError, RuntimeError)):
        await Client.connect(
            layout.temporal_internal_address,
            namespace=f"region-{SENDER}",
            tls=tls,
            api_key=_token(access, SENDER),
        )


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
