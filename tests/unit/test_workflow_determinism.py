"""Workflow code against histories recorded from real runs (tests/replay/histories/).

A change that makes the workflows take different steps for an existing history fails here:
such a change needs `workflow.patched(...)`, or the histories re-recorded when no case can
still be running on the old code (see docs/lifecycle.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import _Definition

from workflows.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).parents[1] / "replay" / "histories").glob("*.json"))


def _read(path: Path) -> str:
    return path.read_text()


def test_histories_cover_both_sides_and_the_main_paths() -> None:
    names = [path.name for path in HISTORIES]
    assert any(n.startswith("350000-intakeworkflow") for n in names)
    assert any(n.startswith("440000-processingworkflow") for n in names)
    assert any("closed-rejected" in n for n in names)  # a compensated case
    assert any("continued_as_new" in n for n in names)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, _read(path))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


@pytest.mark.parametrize("workflow_class", WORKFLOWS, ids=lambda c: c.__name__)
async def test_every_workflow_loads_in_the_default_sandbox(workflow_class: type) -> None:
    SandboxedWorkflowRunner().prepare_workflow(_Definition.must_from_class(workflow_class))
