"""Taking a human step: the case's Temporal Update, with its refusals made HTTP-meaningful.

The step carries the person who takes it (from the caller's token), so the workflow records
that person in the step itself."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
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
