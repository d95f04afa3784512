"""The baseline: the same two workflows chained directly through the Temporal client.

The same shape as tongban's intake and processing workflows on the automatically approved
path (`workflows/timeline.py`: the steps of each stretch between two waits commit in one
local activity), with the same waits and signals, but with no Kafka, signing, sealing, outbox, inbox
or Postgres: the local activities call the other region's Temporal namespace directly. A
starts B (tongban: `forwarded`), B signals `accepted` and `decided` back, A signals B that
the result was delivered, and both close. Measured in the same run as tongban, it shows what
the cross-region machinery itself costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

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


def _intake_id(case: BaselineCase) -> str:
    return f"baseline-intake-{case.case_no}"


def _processing_id(case: BaselineCase) -> str:
    return f"baseline-processing-{case.case_no}"


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
            id=_processing_id(case),
            task_queue=case.processing_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    @activity.defn(name="baseline_answer")
    async def answer(self, case: BaselineCase) -> None:
        # tongban's B commits `accepted` and `decided` together; A receives two events.
        handle = self._clients[case.origin_ns].get_workflow_handle(_intake_id(case))
        await handle.signal("accepted")
        await handle.signal("decided")

    @activity.defn(name="baseline_deliver")
    async def deliver(self, case: BaselineCase) -> None:
        handle = self._clients[case.processing_ns].get_workflow_handle(_processing_id(case))
        await handle.signal("delivered")


async def _local(activity_name: str, arg: object) -> None:
    await workflow.execute_local_activity(activity_name, arg, start_to_close_timeout=STEP)


@workflow.defn(name="BaselineIntake")
class BaselineIntake:
    def __init__(self) -> None:
        self._accepted = self._decided = False
        self._times = BaselineTimes()

    @workflow.run
    async def run(self, case: BaselineCase) -> BaselineTimes:
        await _local("baseline_forward", case)
        await workflow.wait_condition(lambda: self._accepted)
        await _local("baseline_step", case.case_no)
        await workflow.wait_condition(lambda: self._decided)
        self._times.result_received = workflow.now()
        await _local("baseline_deliver", case)
        return self._times

    @workflow.signal
    def accepted(self) -> None:
        self._accepted = True

    @workflow.signal
    def decided(self) -> None:
        self._decided = True


@workflow.defn(name="BaselineProcessing")
class BaselineProcessing:
    def __init__(self) -> None:
        self._delivered = False

    @workflow.run
    async def run(self, case: BaselineCase) -> BaselineTimes:
        # tongban's B notes its decision, then commits it with the event that carries it.
        started = decided = workflow.now()
        await _local("baseline_answer", case)
        await workflow.wait_condition(lambda: self._delivered)
        await _local("baseline_step", case.case_no)
        return BaselineTimes(processing_started=started, decided=decided)

    @workflow.signal
    def delivered(self) -> None:
        self._delivered = True
