"""Driving automatically decided cases across a province pair on the local stack.

Cases go through the real window intake (applicant sealed, case recorded), both nodes' workers,
outboxes, relays, Kafka, bridges and dispatchers. Timings come from the workflows themselves:
B's start and close times, B's `result-sent` step, A's `result-received` step and close time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from temporalio.client import Client

from bench.cost import CostMeter
from bench.hop_parts import hop_parts
from bench.processes import peak_rss_mb
from bench.stats import Latency, RunResult, history_events
from regions.case_handles import intake_handle, processing_handle
from regions.demo import demo_application, synthetic_id_number
from regions.node import NodeServices
from regions.node_process import NodeProcess
from regions.policies import CasePolicies
from regions.window import Application, submit_case
from workflows.intake import IntakeWorkflow
from workflows.models import CaseProgress
from workflows.processing import ProcessingWorkflow

# The bench measures the exchange, not people: every step of every item is taken by the policy,
# turned on explicitly (a node's default leaves them to people, decision 0024).
AUTOMATIC = CasePolicies.automatic()
AUTOMATIC_ENV = {"TONGBAN_NODE_POLICIES": AUTOMATIC.model_dump_json()}


@dataclass(frozen=True)
class PairUnderTest:
    origin: str
    processing: str
    services: NodeServices  # the origin region's pool, client and credentials
    processing_client: Client
    dsns: tuple[str, ...]  # both regions' databases
    nodes: tuple[NodeProcess, ...]


async def paced(
    count: int, rate: float | None, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> None:
    """Start `one(i)` at a fixed offered rate, or as fast as `concurrency` allows."""
    gate = asyncio.Semaphore(concurrency)
    start = time.monotonic()

    async def slot(i: int) -> None:
        if rate:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        async with gate:
            await one(i)

    await asyncio.gather(*(slot(i) for i in range(count)))


def bench_application(i: int) -> Application:
    """The demo's application (its item's mandatory materials included), another applicant."""
    return demo_application().model_copy(
        update={
            "applicant_name": "压测申请人",
            "applicant_id_number": synthetic_id_number(serial=f"{i % 1000:03d}"),
        }
    )


def _step_at(progress: CaseProgress, status: str) -> datetime:
    return next(step.at for step in progress.steps if step.status == status)


async def run_pair(
    pair: PairUnderTest,
    *,
    cases: int,
    rate: float | None,
    concurrency: int = 64,
    meter: CostMeter | None = None,
) -> RunResult:
    submitted: dict[str, float] = {}

    async def one(i: int) -> None:
        began = time.time()
        handle = await submit_case(
            pool=pair.services.pool,
            client=pair.services.client,
            credentials=pair.services.credentials,
            application=bench_application(i),
            policies=AUTOMATIC,
        )
        case_no = handle.id.removeprefix("intake-")
        submitted[case_no] = began
        await handle.result()

    mark = await meter.begin() if meter else None
    began = time.monotonic()
    await paced(cases, rate, concurrency, one)
    duration = time.monotonic() - began
    cost = await meter.end(mark, len(submitted)) if meter and mark else None

    to_b, back_to_a, end_to_end, history = [], [], [], []
    for case_no, t_submit in submitted.items():
        a_handle = intake_handle(pair.services.client, case_no)
        b_handle = processing_handle(pair.processing_client, case_no)
        await b_handle.result()  # B closes once A's result-delivered arrives
        a_desc, b_desc = await a_handle.describe(), await b_handle.describe()
        a_progress = await a_handle.query(IntakeWorkflow.progress)
        b_progress = await b_handle.query(ProcessingWorkflow.progress)
        assert a_desc.close_time is not None
        to_b.append(b_desc.start_time.timestamp() - t_submit)
        back_to_a.append(
            (
                _step_at(a_progress, "result-received") - _step_at(b_progress, "result-sent")
            ).total_seconds()
        )
        end_to_end.append(a_desc.close_time.timestamp() - t_submit)
        history.append(history_events(a_desc, b_desc))
    events = await count_events(pair.dsns, list(submitted))
    parts = await hop_parts(
        pair.dsns[0], pair.dsns[1], pair.origin, pair.processing, list(submitted)
    )
    return RunResult(
        label="tongban",
        offered_rate=rate,
        cases=cases,
        completed=len(submitted),
        duration_s=duration,
        latency={
            "submit_to_b_started": Latency.of(to_b),
            "b_decided_to_a_received": Latency.of(back_to_a),
            "end_to_end": Latency.of(end_to_end),
        },
        events_per_s=events / duration,
        history_events_per_case=sum(history) / len(history) if history else None,
        node_peak_rss_mb={
            f"{n.region}#{n.process.pid}": peak_rss_mb(n.process.pid) for n in pair.nodes
        },
        cost=cost,
        hop_parts=parts.parts if parts else {},
        hop_polls_per_step=parts.polls_per_step if parts else None,
    )


async def count_events(dsns: tuple[str, ...], case_nos: list[str]) -> int:
    """Signed events both regions sent for these cases (business events and receipts)."""
    total = 0
    for dsn in dsns:
        conn = await asyncpg.connect(dsn)
        try:
            total += await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE case_no = ANY($1::text[])", case_nos
            )
        finally:
            await conn.close()
    return total
