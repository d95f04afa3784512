"""The regional node: the one composition root that builds connections and wires them.

One process runs the region's Temporal worker, its inbox bridge (Kafka consumer + verifier +
dispatcher) and its outbox relay, until it is told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.registry import node_activities
from events.bridge import InboxBridge
from events.credentials import RegionCredentials
from events.envelope import Envelope
from events.keystore import KeyStore
from events.relay import OutboxRelay
from events.topics import consumer_group, inbox_topic
from events.verify import VerifyLimits, verify_record
from regions.database import create_pool
from regions.dispatch import InboxDispatcher
from regions.naming import task_queue
from regions.node_settings import NodeSettings
from workflows.registry import WORKFLOWS

log = logging.getLogger(__name__)


async def connect_temporal(address: str, namespace: str) -> Client:
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter
    )


def credentials_for(settings: NodeSettings) -> RegionCredentials:
    return RegionCredentials(KeyStore(settings.trust_dir, settings.passphrase), settings.region)


@dataclass
class NodeServices:
    pool: asyncpg.Pool
    client: Client
    credentials: RegionCredentials


@contextlib.asynccontextmanager
async def node_services(settings: NodeSettings) -> AsyncIterator[NodeServices]:
    pool = await create_pool(settings.postgres_dsn.get_secret_value())
    try:
        client = await connect_temporal(settings.temporal_address, settings.namespace)
        yield NodeServices(pool, client, credentials_for(settings))
    finally:
        await pool.close()


async def run_node(settings: NodeSettings, stop: asyncio.Event) -> None:
    region = settings.region
    async with node_services(settings) as services:
        credentials = services.credentials
        credentials.directory()  # refuse to start on a missing or forged directory
        limits = VerifyLimits()

        def verify(raw: bytes) -> Envelope:
            return verify_record(
                raw,
                recipient=region,
                directory=credentials.directory(),
                now=datetime.now(UTC),
                limits=limits,
            )

        worker = Worker(
            services.client,
            task_queue=task_queue(region),
            workflows=WORKFLOWS,
            activities=node_activities(services.pool, credentials),
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True, linger_ms=5
        )
        consumer = AIOKafkaConsumer(
            inbox_topic(region),
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=consumer_group(region),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await producer.start()
        await consumer.start()
        dispatcher = InboxDispatcher(
            pool=services.pool, client=services.client, region=region, policy=settings.policy
        )
        bridge = InboxBridge(
            pool=services.pool,
            consumer=consumer,
            verify=verify,
            region=region,
            dispatch=dispatcher.deliver,
        )
        relay = OutboxRelay(services.pool, producer)
        loops = [
            asyncio.create_task(relay.run(), name="outbox-relay"),
            asyncio.create_task(bridge.run(), name="inbox-bridge"),
            asyncio.create_task(dispatcher.run_sweeper(), name="inbox-sweeper"),
        ]
        worker_task = asyncio.create_task(worker.run(), name="temporal-worker")
        stop_task = asyncio.create_task(stop.wait(), name="stop")
        log.info("node %s running (namespace %s)", region, settings.namespace)
        try:
            done, _ = await asyncio.wait(
                [stop_task, worker_task, *loops], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task is not stop_task and task.exception() is not None:
                    raise RuntimeError(
                        f"node {region}: {task.get_name()} stopped"
                    ) from task.exception()
        finally:
            # Graceful: the worker finishes in-flight activities; the loops stop between
            # batches, and anything they had not committed is redone by the next start.
            await worker.shutdown()
            for task in [*loops, stop_task]:
                task.cancel()
            await asyncio.gather(*loops, stop_task, return_exceptions=True)
            await consumer.stop()
            await producer.stop()
            log.info("node %s stopped", region)
