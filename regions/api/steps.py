"""Taking a human step: the case's Temporal Update, with its refusals made HTTP-meaningful."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from regions.api.models import StepResult
from workflows.models import StepAck


class StepRefused(Exception):
    """The workflow's validator (or its state) refused the step: HTTP 409 with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def take_step(client: Client, workflow_id: str, update: str, arg: BaseModel) -> StepResult:
    handle = client.get_workflow_handle(workflow_id)
    try:
        ack = await handle.execute_update(update, arg, result_type=StepAck)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "StepNotAllowed":
            raise StepRefused(cause.message) from exc
        raise
    except RPCError as exc:
        # A workflow that has completed (or never started) takes no more steps.
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise StepRefused(f"the case's workflow is not running: {exc.message}") from exc
        raise
    return StepResult(case_no=ack.case_no, status=ack.status)
