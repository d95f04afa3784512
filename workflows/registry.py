"""Every workflow a regional node's worker runs, and what the worker needs to run them fast."""

import compileall
from pathlib import Path

from workflows.intake import IntakeWorkflow
from workflows.processing import ProcessingWorkflow
from workflows.ratings import RatingFollowUpWorkflow, RatingInvitationWorkflow

WORKFLOWS: list[type] = [
    IntakeWorkflow,
    ProcessingWorkflow,
    RatingFollowUpWorkflow,
    RatingInvitationWorkflow,
]


def write_bytecode() -> bool:
    """Write this package's bytecode files if they are missing or stale; False if it cannot.

    Temporal's workflow sandbox imports the workflow modules afresh for every workflow run it
    starts (and for every replay of an evicted one). Without bytecode on disk, which is the
    case under PYTHONDONTWRITEBYTECODE, each of those imports compiles the modules from
    source: a fifth of a node's CPU at the benchmark's maximum rate (BENCHMARKS.md). Compiling
    once at start makes those imports read the cached bytecode instead.
    """
    return bool(compileall.compile_dir(Path(__file__).parent, quiet=2))
