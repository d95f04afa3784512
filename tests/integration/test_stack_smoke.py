"""Each real service of the local stack answers and is provisioned for the regions (on either
profile: the dev stack or the cluster)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from deploy.stack import kafka, postgres, temporal
from deploy.stack.settings import StackEndpoints, StackSettings, region_dsn
from events.topics import inbox_topic
from tests.support.stack_access import Bus, on_cluster, temporal_client

pytestmark = pytest.mark.integration

REGIONS = ("350000", "440000")


async def test_kafka_answers_and_has_inbox_topics(bus: Bus) -> None:
    admin = bus.admin()
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        topics = await admin.list_topics()
        described = await admin.describe_topics([inbox_topic(r) for r in REGIONS])
    finally:
        await admin.close()
    assert cluster["brokers"], "metadata lists no broker"
    for region in REGIONS:
        assert inbox_topic(region) in topics
    assert all(len(topic["partitions"]) == kafka.INBOX_PARTITIONS for topic in described)


async def test_kafka_idempotent_produce_then_group_consume_with_manual_commit(
    bus: Bus,
) -> None:
    # A throwaway topic: test records must never reach a real region's inbox consumer.
    topic = f"tongban.smoke.{uuid.uuid4().hex[:12]}"
    admin = bus.admin()
    await admin.start()
    try:
        # One replica in sync is enough, on the cluster (min.insync.replicas=2) too.
        await admin.create_topics(
            [
                NewTopic(
                    topic,
                    num_partitions=kafka.INBOX_PARTITIONS,
                    replication_factor=1,
                    topic_configs={"min.insync.replicas": "1"},
                )
            ]
        )
    finally:
        await admin.close()
    producer = bus.producer(enable_idempotence=True)
    consumer = bus.consumer(
        topic,
        group_id=f"smoke-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await producer.start()
        sent = [
            await producer.send_and_wait(
                topic, f"event-{i}".encode(), key=b"35000020260001", headers=[("h", b"1")]
            )
            for i in range(3)
        ]
        # One key, one partition: a case's events stay in order.
        assert len({meta.partition for meta in sent}) == 1
        await consumer.start()
        received = [await consumer.getone() for _ in range(3)]
        assert [record.value for record in received] == [b"event-0", b"event-1", b"event-2"]
        last = received[-1]
        partition = TopicPartition(topic, last.partition)
        await consumer.commit({partition: last.offset + 1})
        assert await consumer.committed(partition) == last.offset + 1
    finally:
        await consumer.stop()
        await producer.stop()
        admin = bus.admin()
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()


@pytest.mark.parametrize("region", REGIONS)
async def test_temporal_namespace_has_case_search_attributes(
    stack: StackEndpoints, stack_settings: StackSettings, region: str
) -> None:
    client = await temporal_client(stack_settings, stack, region)
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=temporal.namespace(region))
    )
    assert described.namespace_info.name == temporal.namespace(region)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=temporal.namespace(region))
    )
    attributes = dict(listed.custom_attributes)
    for name, kind in temporal.SEARCH_ATTRIBUTES.items():
        assert attributes.get(name) == kind, f"{name} in {temporal.namespace(region)}"
    assert attributes["Overdue"] == IndexedValueType.INDEXED_VALUE_TYPE_BOOL
    # A visibility query naming the attributes is accepted.
    async for _ in client.list_workflows("CaseNo = 'none' AND Overdue = false"):
        pass


async def test_postgres_region_database_is_migrated(
    stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    conn = await asyncpg.connect(region_dsn(stack.postgres_dsn, "350000"))
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_database()") == "tongban_350000"
        assert await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not on_cluster(stack_settings):
            # One local server holds every region's database: `bench scale` runs 34 nodes.
            assert int(await conn.fetchval("SHOW max_connections")) >= postgres.MAX_CONNECTIONS
    finally:
        await conn.close()
