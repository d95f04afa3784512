"""A history the Temporal SDK (temporalio 1.35, its Core) wrote but cannot replay (decision 0046).

Recorded in a fault run (kill -9 of 福建's node): B's `accepted` signal reached the case while the
workflow task for it was bound to the dead worker; that task timed out (schedule-to-start on the
sticky queue), and the next one carried the signal and a clerk's withdrawal Update. Core gave the
workflow the signal first and the Update only after the commit's local activity, so the history
says: timer cancelled, commit marker, Update accepted. Replayed, Core hands over both at once and
the workflow accepts the Update first: "Update machine does not handle this event". A query or a
worker that lost its cache then fails on this case.

The node keeps people's steps away from such a task (`regions.api.steps.HELD_UP`). This test
shows the defect is still there: when an SDK upgrade replays the history, it fails, and the
guard and the note can be revisited.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from workflows.registry import WORKFLOWS

HISTORY = Path(__file__).parents[1] / "replay" / "sdk_defects" / "update-after-task-timeout.json"


async def test_the_sdk_still_cannot_replay_an_update_taken_after_a_timed_out_task() -> None:
    history = WorkflowHistory.from_json("intake-after-timeout", HISTORY.read_text())
    events = [EventType.Name(e.event_type) for e in history.events]
    # The shape that matters: a timed-out task, then the signal's effects before the Update.
    timed_out = events.index("EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT")
    accepted = events.index("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
    assert "EVENT_TYPE_TIMER_CANCELED" in events[timed_out:accepted]
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError, match="Update machine does not handle this event"):
        await replayer.replay_workflow(history)
