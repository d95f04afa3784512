"""The stack grants eager workflow start (decision 0048), on the dev server and the cluster.

The window's submission asks for the intake's first workflow task with the start; the server
hands it out only where `system.enableEagerWorkflowStart` is on, and says nothing when it is
off (the task is then polled: slower, never wrong). So the setting that `stack up` writes is
checked here, on the profile the suite runs on, the way the node uses it: one client, a worker
on it polling the queue, a start that asks.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from deploy.stack.settings import StackEndpoints, StackSettings
from tests.support.stack_access import temporal_client

pytestmark = pytest.mark.integration

REGION = "350000"


@workflow.defn(name="EagerStartProbe")
class EagerStartProbe:
    @workflow.run
    async def run(self) -> str:
        return "started"


async def test_a_start_that_asks_gets_its_first_task_with_the_answer(
    stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    client = await temporal_client(stack_settings, stack, REGION)
    queue = f"eager-probe-{uuid.uuid4().hex}"
    # Unsandboxed: the sandbox would re-import this test module, stack settings and all.
    runner = UnsandboxedWorkflowRunner()
    async with Worker(
        client, task_queue=queue, workflows=[EagerStartProbe], workflow_runner=runner
    ):
        handle = await client.start_workflow(
            EagerStartProbe.run,
            id=f"eager-probe-{uuid.uuid4().hex}",
            task_queue=queue,
            request_eager_start=True,
        )
        assert await asyncio.wait_for(handle.result(), timeout=30) == "started"
    # The SDK marks a handle whose start came back with the first workflow task (it sets this
    # attribute on the handle in `temporalio.client`; there is no public accessor).
    assert getattr(handle, "__temporal_eagerly_started") is True
