"""Every workflow a regional node's worker runs."""

from workflows.intake import IntakeWorkflow
from workflows.processing import ProcessingWorkflow

WORKFLOWS: list[type] = [IntakeWorkflow, ProcessingWorkflow]
