"""What the API's fake Temporal handles answer to `describe`."""

from __future__ import annotations

from types import SimpleNamespace

from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse


def described_at_rest() -> SimpleNamespace:
    """A workflow with no workflow task waiting: a person's step is sent at once."""
    return SimpleNamespace(raw_description=DescribeWorkflowExecutionResponse())
