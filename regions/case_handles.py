"""Typed handles to a case's two workflows, from a client of the region that runs each.

`Client.get_workflow_handle_for` infers the handle's types from the workflow's run method; mypy
infers them only where the call has an expected type (2026-12-01: 18 call sites without one
became errors on a fresh install), so every caller gets them from here.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle

from workflows.intake import IntakeWorkflow
from workflows.models import CaseOutcome
from workflows.naming import intake_workflow_id, processing_workflow_id
from workflows.processing import ProcessingWorkflow


def intake_handle(client: Client, case_no: str) -> WorkflowHandle[IntakeWorkflow, CaseOutcome]:
    """The case's intake workflow (a client of the accepting region's namespace)."""
    return client.get_workflow_handle_for(IntakeWorkflow.run, intake_workflow_id(case_no))


def processing_handle(
    client: Client, case_no: str
) -> WorkflowHandle[ProcessingWorkflow, CaseOutcome]:
    """The case's processing workflow (a client of the processing region's namespace)."""
    return client.get_workflow_handle_for(ProcessingWorkflow.run, processing_workflow_id(case_no))
