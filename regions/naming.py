"""Names every node derives from a region code and case number, in one place."""


def namespace(region: str) -> str:
    return f"region-{region}"


def task_queue(region: str) -> str:
    return f"tongban-{region}"


def intake_workflow_id(case_no: str) -> str:
    return f"intake-{case_no}"


def processing_workflow_id(case_no: str) -> str:
    return f"processing-{case_no}"
