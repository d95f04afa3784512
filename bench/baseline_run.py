"""Running the baseline workflows with their own workers, in this process."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from bench.baseline import (
    BaselineActivities,
    BaselineCase,
    BaselineIntake,
    BaselineProcessing,
    BaselineTimes,
)
from bench.cost import CostMeter
from bench.pair_run import paced
from bench.stats import Latency, RunResult, history_events
from regions.naming import namespace


def _queue(region: str) -> str:
    return f"bench-baseline-{region}"


@contextlib.asynccontextmanager
async def baseline_workers(
    clients: dict[str, Client], origin: str, processing: str
) -> AsyncIterator[None]:
    by_namespace = {namespace(region): client for region, client in clients.items()}
    activities = BaselineActivities(by_namespace)
    workers = [
        Worker(
            clients[region],
            task_queue=_queue(region),
            workflows=[BaselineIntake, BaselineProcessing],
            activities=[activities.step, activities.forward, activities.answer, activities.deliver],
        )
        for region in (origin, processing)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        yield


async def run_baseline(
    clients: dict[str, Client],
    origin: str,
    processing: str,
    *,
    cases: int,
    rate: float | None,
    concurrency: int = 64,
    meter: CostMeter | None = None,
) -> RunResult:
    run_id = uuid.uuid4().hex[:8]
    started: list[tuple[float, WorkflowHandle[BaselineIntake, BaselineTimes], str]] = []

    async def one(i: int) -> None:
        case = BaselineCase(
            case_no=f"{run_id}-{i}",
            origin_ns=namespace(origin),
            processing_ns=namespace(processing),
            processing_queue=_queue(processing),
            origin_queue=_queue(origin),
        )
        began = time.time()
        handle = await clients[origin].start_workflow(
            BaselineIntake.run,
            case,
            id=f"baseline-intake-{case.case_no}",
            task_queue=_queue(origin),
        )
        await handle.result()
        started.append((began, handle, case.case_no))

    async with baseline_workers(clients, origin, processing):
        mark = await meter.begin() if meter else None
        began = time.monotonic()
        await paced(cases, rate, concurrency, one)
        duration = time.monotonic() - began
        cost = await meter.end(mark, len(started)) if meter and mark else None
        to_b, back_to_a, end_to_end, history = [], [], [], []
        for submitted, a_handle, case_no in started:
            b_id = f"baseline-processing-{case_no}"
            b_handle: WorkflowHandle[BaselineProcessing, BaselineTimes]
            b_handle = clients[processing].get_workflow_handle_for(BaselineProcessing.run, b_id)
            a_times, b_times = await a_handle.result(), await b_handle.result()
            a_desc, b_desc = await a_handle.describe(), await b_handle.describe()
            assert a_desc.close_time is not None
            assert b_times.processing_started is not None
            assert b_times.decided is not None
            assert a_times.result_received is not None
            to_b.append(b_times.processing_started.timestamp() - submitted)
            back_to_a.append((a_times.result_received - b_times.decided).total_seconds())
            end_to_end.append(a_desc.close_time.timestamp() - submitted)
            history.append(history_events(a_desc, b_desc))
    return RunResult(
        label="baseline",
        offered_rate=rate,
        cases=cases,
        completed=len(end_to_end),
        duration_s=duration,
        latency={
            "submit_to_b_started": Latency.of(to_b),
            "b_decided_to_a_received": Latency.of(back_to_a),
            "end_to_end": Latency.of(end_to_end),
        },
        history_events_per_case=sum(history) / len(history) if history else None,
        cost=cost,
    )
