"""The regional node: the one composition root that builds connections and wires them.

One process runs the region's Temporal worker, its inbox bridge (Kafka consumer + verifier +
dispatcher), its outbox relay and its resender (receipts), until it is told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.registry import node_activities
from effects.adapters import EffectAdapter
from effects.build import aclose_adapters, build_adapters
from events.bridge import InboxBridge
from events.crash import DISPATCH_AFTER_SIGNAL, NO_CRASH, CrashPoints
from events.credentials import DirectoryFloor, RegionCredentials
from events.directory_floor import DirectoryKeeper, read_floor
from events.file_receiving import FileReceiver, region_opener
from events.keystore import KeyStore
from events.relay import OutboxRelay, relay_producer_options
from events.resend import Resender
from events.resend_policy import ResendPolicy
from events.stores.postgres import PostgresStores
from events.topics import consumer_group, inbox_topic
from events.verify import VerifyLimits, verifier_for
from regions.api.effect_routes import EFFECT_CALLBACK_PATH
from regions.api.ports import api_base
from regions.api.server import api_services, bind_api_socket, node_catalog, serve_api
from regions.database import create_pool
from regions.dispatch import InboxDispatcher
from regions.documents_issuer import RegionDocuments, signed_pdfs
from regions.evidence.handler import EvidenceHandler, evidence_handler
from regions.failure_signal import WorkflowFailureNotifier
from regions.gauges import RegionGauges
from regions.naming import task_queue
from regions.node_lock import NodeCannotStart, region_lock
from regions.node_memory import MemoryByPart
from regions.node_settings import NodeSettings
from regions.ratings import RatingDesk, run_ratings_sweeper, take_inbound
from regions.telemetry import configure, node_config, temporal_interceptors
from regions.temporal_security import TemporalSecurity
from workflows.registry import WORKFLOWS, write_bytecode

log = logging.getLogger(__name__)


async def connect_temporal(
    address: str,
    namespace: str,
    interceptors: Sequence[Interceptor] = (),
    security: TemporalSecurity | None = None,
) -> Client:
    security = security or TemporalSecurity()
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=pydantic_data_converter,
        interceptors=interceptors,
        tls=security.tls(),
        api_key=security.key(),
    )


async def connect_as_node(
    settings: NodeSettings, interceptors: Sequence[Interceptor] = ()
) -> Client:
    """A Temporal client as the region's node connects: its address, namespace and security
    (in the clear on the dev server, over mTLS where the settings name certificates)."""
    return await connect_temporal(
        settings.temporal_address, settings.namespace, interceptors, settings.temporal
    )


class _CrashAfterSignal(Interceptor):
    """The dispatcher's "signal sent, row not yet marked delivered" gap, as a crash point:
    every signal (and signal-with-start) this node's client sends passes through here."""

    def __init__(self, crash: CrashPoints) -> None:
        self._crash = crash

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        crash = self._crash

        class Outbound(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                handle = await super().start_workflow(input)
                if input.start_signal is not None:
                    crash.hit(DISPATCH_AFTER_SIGNAL)
                return handle

            async def signal_workflow(self, input: SignalWorkflowInput) -> None:
                await super().signal_workflow(input)
                crash.hit(DISPATCH_AFTER_SIGNAL)

        return Outbound(next)


def resend_policy(settings: NodeSettings) -> ResendPolicy:
    return ResendPolicy(
        receipt_timeout=timedelta(seconds=settings.receipt_timeout_s),
        backoff=settings.resend_backoff,
        max_attempts=settings.max_send_attempts,
    )


def key_store(settings: NodeSettings) -> KeyStore:
    return KeyStore(settings.trust_dir, settings.passphrase, settings.root_key_id)


def credentials_for(
    settings: NodeSettings, floor: DirectoryFloor | None = None
) -> RegionCredentials:
    # The directory file is looked at no more than once a second (inbound records would
    # otherwise stat it each); `floor` bars files older than what the node accepted before.
    return RegionCredentials(
        key_store(settings), settings.region, floor=floor or DirectoryFloor(), recheck_s=1.0
    )


@dataclass
class NodeServices:
    pool: asyncpg.Pool
    client: Client
    credentials: RegionCredentials
    # The region's systems that carry out effects, one adapter per configured name.
    adapters: Mapping[str, EffectAdapter] = field(default_factory=dict)

    @property
    def stores(self) -> PostgresStores:
        return PostgresStores(self.pool)


def rating_desk(settings: NodeSettings, services: NodeServices) -> RatingDesk:
    return RatingDesk(
        settings.region,
        services.pool,
        services.client,
        services.credentials,
        settings.ratings,
        settings.effects,
    )


def dispatcher_for(
    settings: NodeSettings, services: NodeServices, evidence: EvidenceHandler | None = None
) -> InboxDispatcher:
    evidence = evidence or evidence_handler(
        services.pool, services.credentials, node_catalog(settings)
    )
    return InboxDispatcher(
        stores=services.stores,
        client=services.client,
        region=settings.region,
        policies=settings.policies,
        catalog=node_catalog(settings),
        ratings=functools.partial(take_inbound, rating_desk(settings, services)),
        evidence=evidence,
        case_arrived=evidence.case_forwarded,
    )


@contextlib.asynccontextmanager
async def node_services(
    settings: NodeSettings, crash: CrashPoints = NO_CRASH
) -> AsyncIterator[NodeServices]:
    pool = await create_pool(
        settings.postgres_dsn.get_secret_value(), max_size=settings.postgres_pool_size
    )
    try:
        interceptors: list[Interceptor] = [*temporal_interceptors()]  # trace context
        interceptors += [_CrashAfterSignal(crash)] if crash.armed else []
        client = await connect_as_node(settings, interceptors)
        floor = await read_floor(pool, key_store(settings))
        credentials = credentials_for(settings, floor)
        adapters = build_adapters(settings.effects, credentials.signer)
        try:
            yield NodeServices(pool, client, credentials, adapters)
        finally:
            await aclose_adapters(adapters)
    finally:
        await pool.close()


Loop = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Exchange:
    """A full node's exchange side, built but not started: its Kafka clients and the loops
    that run until the node stops (relay, resender, bridge, sweeper, API, gauges, keeper)."""

    consumer: AIOKafkaConsumer
    relay: OutboxRelay
    loops: dict[str, Loop]


# The workflows' bytecode is the package's, the same for every region a process hosts: written
# (or found current) once per process.
_write_bytecode_once = functools.cache(write_bytecode)


def build_worker(settings: NodeSettings, services: NodeServices) -> Worker:
    if not _write_bytecode_once():
        log.warning(
            "node %s: no workflow bytecode written; workflow starts are slower", settings.region
        )
    return Worker(
        services.client,
        task_queue=task_queue(settings.region),
        workflows=WORKFLOWS,
        activities=node_activities(
            services.pool,
            services.credentials,
            envelope_budget=settings.max_envelope_bytes,
            documents=RegionDocuments(
                services.credentials,
                node_catalog(settings),
                signed_pdfs(services.credentials),
                verification_base=api_base(settings),
            ),
            routing=settings.effects,
            adapters=services.adapters,
            callback_url=f"{api_base(settings)}{EFFECT_CALLBACK_PATH}",
        ),
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_local_activities=settings.max_concurrent_activities,
    )


def build_exchange(
    settings: NodeSettings,
    services: NodeServices,
    stop: asyncio.Event,
    crash: CrashPoints,
    api_socket: socket.socket | None = None,
) -> Exchange:
    """Wire the exchange from the settings and the connections; nothing starts here.
    `api_socket`: the API's address, taken when the node started (bind_api_socket)."""
    region, credentials = settings.region, services.credentials
    limits = VerifyLimits(max_bytes=settings.max_record_bytes)
    policy = resend_policy(settings)
    # Past the directory's valid_until every record is refused as directory-expired.
    verify = verifier_for(region, credentials.verifying_directory, limits)
    kafka_auth = settings.kafka.client_options()

    def new_producer() -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            **relay_producer_options(),
            **kafka_auth,
        )

    async def renew_producer(old: AIOKafkaProducer) -> AIOKafkaProducer:
        with contextlib.suppress(KafkaError):
            await old.stop()
        fresh = new_producer()
        await fresh.start()
        return fresh

    consumer = AIOKafkaConsumer(
        inbox_topic(region),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=consumer_group(region),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_session_timeout_ms // 3,
        **kafka_auth,
    )
    evidence = evidence_handler(services.pool, credentials, node_catalog(settings))
    dispatcher = dispatcher_for(settings, services, evidence)
    bridge = InboxBridge(
        stores=services.stores,
        consumer=consumer,
        verify=verify,
        region=region,
        dispatch=dispatcher.deliver,
        signer_at=credentials.signer,
        crash=crash,
        quarantine_raw_bytes=settings.quarantine_raw_bytes,
        files=FileReceiver(region_opener(credentials)),
    )
    resender = Resender(
        stores=services.stores,
        region=region,
        policy=policy,
        notify=WorkflowFailureNotifier(services.client, region),
    )
    relay = OutboxRelay(
        services.stores,
        new_producer(),
        resend=policy,
        crash=crash,
        region=region,
        renew=renew_producer,
        on_sent=resender.wake,
    )
    built = api_services(settings, services.pool, services.client, credentials)
    return Exchange(
        consumer=consumer,
        relay=relay,
        loops={
            "outbox-relay": relay.run,
            "resender": resender.run,
            "inbox-bridge": bridge.run,
            "inbox-sweeper": dispatcher.run_sweeper,
            "evidence-timeouts": evidence.run_timeouts,
            "window-api": lambda: serve_api(settings, built, stop, api_socket),
            "gauges": RegionGauges(services.pool, region).run,
            "directory-keeper": DirectoryKeeper(services.pool, credentials).run,
            "ratings-sweeper": functools.partial(
                run_ratings_sweeper, rating_desk(settings, services)
            ),
        },
    )


async def supervise(
    region: str,
    worker: Worker,
    exchange: Exchange,
    stop: asyncio.Event,
    memory: MemoryByPart | None = None,
) -> None:
    """Run the worker and every loop until `stop` is set or one of them fails; then stop all
    of them gracefully. A loop that ends with an error stops the node (it is restarted from
    its durable state): loops never end on their own, so an exit is a defect to see."""
    await exchange.relay.producer.start()
    if memory is not None:
        memory.mark("relay producer started")
    await exchange.consumer.start()
    if memory is not None:
        memory.mark("bridge consumer started")
        memory.report()
    loops = [asyncio.create_task(run(), name=name) for name, run in exchange.loops.items()]
    worker_task = asyncio.create_task(worker.run(), name="temporal-worker")
    stop_task = asyncio.create_task(stop.wait(), name="stop")
    log.info("node %s running", region)
    try:
        done, _ = await asyncio.wait(
            [stop_task, worker_task, *loops], return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            failure = None if task is stop_task else task.exception()
            if isinstance(failure, NodeCannotStart):
                raise failure  # says which part and what to do
            if failure is not None:
                raise RuntimeError(f"node {region}: {task.get_name()} stopped") from failure
    finally:
        # Graceful: the API first, so requests in flight finish their workflow updates while
        # the worker still runs (a request cut off after that answers 503); then the worker
        # finishes in-flight activities; the loops stop between batches, and anything they
        # had not committed is redone by the next start.
        api = [t for t in loops if t.get_name() == "window-api"]
        stop.set()  # serve_api shuts uvicorn down gracefully once it sees `stop`
        await asyncio.gather(*api, return_exceptions=True)
        await worker.shutdown()
        for task in [*loops, stop_task]:
            task.cancel()
        await asyncio.gather(*loops, stop_task, return_exceptions=True)
        await exchange.consumer.stop()
        await exchange.relay.producer.stop()  # the relay's current one: it may have renewed it
        log.info("node %s stopped", region)


async def run_node(
    settings: NodeSettings, stop: asyncio.Event, *, lock_dir: Path | None = None
) -> None:
    """Build the node from its settings, then supervise it until `stop`. A full node first
    takes its region's lock in `lock_dir` (one full node per region on a machine) and its
    API's port, so a second node or a taken port stops it before it connects to anything
    (NodeCannotStart, decision 0033). Worker-only processes take neither."""
    if settings.role == "worker":
        await _build_and_run(settings, stop, None)
        return
    with contextlib.ExitStack() as held:
        if lock_dir is not None:
            held.enter_context(region_lock(lock_dir, settings.region))
        api_socket = held.enter_context(bind_api_socket(settings))
        await _build_and_run(settings, stop, api_socket)


async def _build_and_run(
    settings: NodeSettings, stop: asyncio.Event, api_socket: socket.socket | None
) -> None:
    crash = CrashPoints(settings.crash_at)
    # Exporters as configured (none by default); the SDK flushes them at process exit.
    configure(
        node_config(
            settings.region, settings.otlp_endpoint, settings.trace_file, settings.metric_interval_s
        )
    )
    await run_region(settings, stop, api_socket, MemoryByPart(settings.region), crash)


async def run_region(
    settings: NodeSettings,
    stop: asyncio.Event,
    api_socket: socket.socket | None,
    memory: MemoryByPart | None = None,
    crash: CrashPoints | None = None,
) -> None:
    """Connect, build and supervise one region's parts until `stop`: what a node process does
    once its lock and port are held and telemetry is configured. `memory`: growth per part,
    logged once all have started (None: not measured, as when regions share a process)."""
    crash = crash or CrashPoints(settings.crash_at)
    memory = memory or MemoryByPart(settings.region, enabled=False)
    async with node_services(settings, crash) as services:
        # Refuse to start on a missing, forged or rolled-back directory with no floor copy.
        services.credentials.directory()
        memory.mark("connections")
        worker = build_worker(settings, services)
        memory.mark("worker built")
        if settings.role == "worker":
            memory.report()
            await _run_worker_only(worker, stop, settings.region)
            return
        exchange = build_exchange(settings, services, stop, crash, api_socket)
        memory.mark("bridge relay API built")
        await supervise(settings.region, worker, exchange, stop, memory)


async def _run_worker_only(worker: Worker, stop: asyncio.Event, region: str) -> None:
    """An extra worker process for a region: more workflow and activity throughput, while one
    full node of the region keeps the exchange (relay, bridge, resend) and the API."""
    worker_task = asyncio.create_task(worker.run(), name="temporal-worker")
    stop_task = asyncio.create_task(stop.wait(), name="stop")
    log.info("worker for %s running", region)
    try:
        await asyncio.wait([worker_task, stop_task], return_when=asyncio.FIRST_COMPLETED)
        if worker_task.done() and worker_task.exception() is not None:
            raise RuntimeError(f"worker {region} stopped") from worker_task.exception()
    finally:
        await worker.shutdown()
        stop_task.cancel()
