"""Workflow ids of a case, derived from its number: the node starts and signals them by these
names, and a 多地联办 hub starts and signals its legs' workflows by them too."""


def intake_workflow_id(case_no: str) -> str:
    return f"intake-{case_no}"


def processing_workflow_id(case_no: str) -> str:
    return f"processing-{case_no}"
