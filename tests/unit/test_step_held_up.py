"""A person's step is not sent to a case whose workflow has news no worker has taken for a
while (decision 0046): the API answers 503 `case_catching_up` with Retry-After, and nothing is
sent; a task a worker is working on, or one just scheduled, holds nothing up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.api.workflow.v1 import PendingWorkflowTaskInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse

from regions.api.steps import HELD_UP, CaseCatchingUp, take_step
from workflows.models import Actor, FormalReview, StepAck

CASE = "350000-20261201-HELDUP01"
SCHEDULED = PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
STARTED = PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED


def _pending(state: PendingWorkflowTaskState.ValueType, ago: timedelta) -> PendingWorkflowTaskInfo:
    at = Timestamp()
    at.FromDatetime(datetime.now(UTC) - ago)
    return PendingWorkflowTaskInfo(state=state, scheduled_time=at, original_scheduled_time=at)


class _Client:
    def __init__(self, pending: PendingWorkflowTaskInfo | None) -> None:
        raw = DescribeWorkflowExecutionResponse()
        if pending is not None:
            raw.pending_workflow_task.CopyFrom(pending)
        self.raw = raw
        self.sent: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> _Client:
        return self

    async def describe(self) -> SimpleNamespace:
        return SimpleNamespace(raw_description=self.raw)

    async def execute_update(self, update: str, arg: Any, *, result_type: type) -> StepAck:
        self.sent.append(update)
        return StepAck(case_no=CASE, status="in-transit")


async def _step(client: _Client) -> None:
    actor = Actor(kind="person", person_id="FZ1001", name="王芳", region="350000", window="fz-01")
    review = FormalReview(outcome="pass")
    await take_step(cast(Any, client), f"intake-{CASE}", "record_formal_review", review, actor)


@pytest.mark.parametrize(
    "pending",
    [
        None,
        _pending(SCHEDULED, timedelta(milliseconds=50)),
        _pending(STARTED, HELD_UP * 5),  # a worker has it: the Update waits for the next task
    ],
    ids=["no task", "just scheduled", "started long ago"],
)
async def test_a_case_whose_news_is_being_taken_takes_the_step(
    pending: PendingWorkflowTaskInfo | None,
) -> None:
    client = _Client(pending)
    await _step(client)
    assert client.sent == ["record_formal_review"]


async def test_a_case_whose_news_waits_for_a_gone_worker_is_not_sent_the_step() -> None:
    client = _Client(_pending(SCHEDULED, HELD_UP + timedelta(seconds=3)))
    with pytest.raises(CaseCatchingUp):
        await _step(client)
    assert client.sent == []
