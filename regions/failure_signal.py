"""Telling the sending region's own case workflow that an event was never receipted."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from events.models import DeliveryFailure, EventType
from regions.naming import case_workflow_id

DELIVERY_FAILED_SIGNAL = "delivery_failed"
_EVIDENCE = frozenset({EventType.EVIDENCE_REQUESTED, EventType.EVIDENCE_ANSWERED})


class WorkflowFailureNotifier:
    def __init__(self, client: Client, region: str) -> None:
        self._client = client
        self._region = region

    async def __call__(self, case_no: str, failure: DeliveryFailure) -> str | None:
        """Signal the workflow; returns a note when there was no workflow to tell."""
        if failure.event_type in _EVIDENCE:
            # No workflow sent it: the request's own timeout puts the material on paper.
            return "evidence event: no workflow to tell"
        workflow_id = case_workflow_id(case_no, self._region)
        try:
            await self._client.get_workflow_handle(workflow_id).signal(
                DELIVERY_FAILED_SIGNAL, failure
            )
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            return f"no running workflow {workflow_id}"
        return None
