"""The baseline: the same two workflows chained directly through the Temporal client.

The same shape of steps as tongban's intake and processing workflows (one activity per status
change and effect), but with no Kafka, signing, sealing, outbox, inbox or Postgres: the hop
between regions is a signal-with-start from an activity, and the answer a signal back. Measured
in the same run as tongban, it shows what the cross-region machinery itself costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

# Activities per side in tongban's automatically approved path besides the hop (status
# changes, effects, sends: 11 on A, 6 on B with the hop), so the baseline does the same number
# of Temporal round trips.
INTAKE_STEPS, PROCESSING_STEPS = 10, 5
STEP = timedelta(seconds=30)


@dataclass
class BaselineCase:
    case_no: str
    origin_ns: str
    processing_ns: str
    processing_queue: str
    origin_queue: str


@dataclass
class BaselineTimes:
    processing_started: datetime | None = None
    decided: datetime | None = None
    result_received: datetime | None = None


class BaselineActivities:
    def __init__(self, clients: dict[str, Client]) -> None:
        self._clients = clients  # namespace -> client

    @activity.defn(name="baseline_step")
    async def step(self, case_no: str) -> None:
        return None

    @activity.defn(name="baseline_forward")
    async def forward(self, case: BaselineCase) -> None:
        await self._clients[case.processing_ns].start_workflow(
            "BaselineProcessing",
            case,
            id=f"baseline-processing-{case.case_no}",
            task_queue=case.processing_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    @activity.defn(name="baseline_answer")
    async def answer(self, case: BaselineCase) -> None:
        handle = self._clients[case.origin_ns].get_workflow_handle(
            f"baseline-intake-{case.case_no}"
        )
        await handle.signal("decided")


async def _steps(case_no: str, count: int) -> None:
    for _ in range(count):
        await workflow.execute_activity("baseline_step", case_no, start_to_close_timeout=STEP)


@workflow.defn(name="BaselineIntake")
class BaselineIntake:
    def __init__(self) -> None:
        self._decided = False
        self._times = BaselineTimes()

    @workflow.run
    async def run(self, case: BaselineCase) -> BaselineTimes:
        await _steps(case.case_no, INTAKE_STEPS // 2)
        await workflow.execute_activity("baseline_forward", case, start_to_close_timeout=STEP)
        await workflow.wait_condition(lambda: self._decided)
        self._times.result_received = workflow.now()
        await _steps(case.case_no, INTAKE_STEPS - INTAKE_STEPS // 2)
        return self._times

    @workflow.signal
    def decided(self) -> None:
        self._decided = True


@workflow.defn(name="BaselineProcessing")
class BaselineProcessing:
    @workflow.run
    async def run(self, case: BaselineCase) -> BaselineTimes:
        started = workflow.now()
        await _steps(case.case_no, PROCESSING_STEPS)
        decided = workflow.now()
        await workflow.execute_activity("baseline_answer", case, start_to_close_timeout=STEP)
        return BaselineTimes(processing_started=started, decided=decided)
