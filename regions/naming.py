"""Names every node derives from a region code and case number, in one place."""

from events.models import accepting_region_of
from workflows.naming import intake_workflow_id, processing_workflow_id

__all__ = [
    "case_workflow_id",
    "intake_workflow_id",
    "namespace",
    "processing_workflow_id",
    "task_queue",
]


def namespace(region: str) -> str:
    return f"region-{region}"


def task_queue(region: str) -> str:
    return f"tongban-{region}"


def case_workflow_id(case_no: str, region: str) -> str:
    """The case's workflow in `region`: intake where it was accepted, processing elsewhere."""
    if accepting_region_of(case_no) == region:
        return intake_workflow_id(case_no)
    return processing_workflow_id(case_no)
