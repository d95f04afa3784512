"""Telling the sending region's own case workflow that an event was never receipted."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from events.models import DeliveryFailure, accepting_region_of
from regions.naming import intake_workflow_id, processing_workflow_id

DELIVERY_FAILED_SIGNAL = "delivery_failed"


def owning_workflow_id(case_no: str, region: str) -> str:
    """The case workflow this region runs: intake where the case was accepted, else
    processing."""
    if accepting_region_of(case_no) == region:
        return intake_workflow_id(case_no)
    return processing_workflow_id(case_no)


class WorkflowFailureNotifier:
    def __init__(self, client: Client, region: str) -> None:
        self._client = client
        self._region = region

    async def __call__(self, case_no: str, failure: DeliveryFailure) -> str | None:
        """Signal the workflow; returns a note when there was no workflow to tell."""
        workflow_id = owning_workflow_id(case_no, self._region)
        try:
            await self._client.get_workflow_handle(workflow_id).signal(
                DELIVERY_FAILED_SIGNAL, failure
            )
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            return f"no running workflow {workflow_id}"
        return None
