"""Taking a human step: the case's Temporal Update, with its refusals made HTTP-meaningful.

The step carries the person who takes it (from the caller's token), so the workflow records
that person in the step itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.exceptions import RequestValidationError
from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from regions.api.models import StepResult
from workflows.models import Actor, PersonInput, StepAck

ACTOR_FROM_TOKEN = "actor_from_token"


class StepRefused(Exception):
    """The workflow's validator (or its state) refused the step: HTTP 409 with the reason, and
    the rule's name when a rule of law refused it (`StepRuleBroken`, e.g. one_time_notice)."""

    def __init__(self, reason: str, rule: str = "step_not_allowed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule


class CaseCatchingUp(Exception):
    """The case's workflow has news no worker has taken for a while (the worker it was bound to
    died): the step is not sent now, and the person tries again in a moment (HTTP 503)."""


# A workflow task waits for milliseconds when a worker polls for it; one scheduled for longer
# waits for a worker that is gone (its sticky queue times out after 10 s, then any worker takes
# it). Decision 0046: an Update delivered with that task's news can record a history that the
# SDK cannot replay, so a person's step waits until the news is taken.
HELD_UP = timedelta(seconds=2)


async def _not_held_up(handle: WorkflowHandle[object, object]) -> None:
    described = await handle.describe()
    raw = described.raw_description
    if not raw.HasField("pending_workflow_task"):
        return
    task = raw.pending_workflow_task
    if task.state != PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED:
        return
    since = task.original_scheduled_time if task.HasField("original_scheduled_time") else None
    since = since or (task.scheduled_time if task.HasField("scheduled_time") else None)
    if since is None:
        return
    waiting = datetime.now(UTC) - since.ToDatetime(tzinfo=UTC)
    if waiting > HELD_UP:
        raise CaseCatchingUp(f"the case's workflow has had news waiting for {waiting}")


def _by(arg: PersonInput, actor: Actor) -> PersonInput:
    if arg.actor is not None:
        # Who takes a step is the token's person; a body naming someone is refused, not
        # silently corrected, so a client that tries learns it does not work. (422)
        raise RequestValidationError(
            [
                {
                    "type": ACTOR_FROM_TOKEN,
                    "loc": ("body", "actor"),
                    "msg": "who takes a step comes from the bearer token, not the request body",
                }
            ]
        )
    return arg.model_copy(update={"actor": actor})


async def take_step(
    client: Client, workflow_id: str, update: str, arg: PersonInput, actor: Actor
) -> StepResult:
    handle = client.get_workflow_handle(workflow_id)
    try:
        await _not_held_up(handle)
        ack = await handle.execute_update(update, _by(arg, actor), result_type=StepAck)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "StepNotAllowed":
            raise StepRefused(cause.message) from exc
        if isinstance(cause, ApplicationError) and cause.type == "StepRuleBroken":
            rule = str(cause.details[0]) if cause.details else "step_rule_broken"
            raise StepRefused(cause.message, rule) from exc
        raise
    except RPCError as exc:
        # A workflow that has completed (or never started) takes no more steps.
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise StepRefused(f"the case's workflow is not running: {exc.message}") from exc
        raise
    side = "origin" if workflow_id.startswith("intake-") else "processing"
    return StepResult(case_no=ack.case_no, status=ack.status, side=side)
