"""Record workflow histories from real runs into tests/replay/histories/ (checked in).

Run right after the integration suite on the local stack:
    .venv/bin/python -m tests.replay.record_histories [MINUTES]
It keeps, per region namespace, the newest closed run of each (workflow type, item, final
status) started in the last MINUTES (default 30), so every path the lifecycle tests took has
a history to replay, and runs of older code are left out.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

from deploy.stack.settings import StackSettings, load_endpoints
from tests.support.stack_access import temporal_client

HISTORIES = Path(__file__).parent / "histories"
REGIONS = ("350000", "440000")
QUERY = (
    "WorkflowType IN ('IntakeWorkflow', 'ProcessingWorkflow')"
    " AND ExecutionStatus IN ('Completed', 'ContinuedAsNew') AND StartTime > '{since}'"
)


async def record(client: Client, region: str, since: datetime) -> int:
    kept: dict[tuple[str, str, str, str], str] = {}
    async for execution in client.list_workflows(QUERY.format(since=since.isoformat())):
        attrs = execution.typed_search_attributes
        item = next((v for k, v in ((p.key.name, p.value) for p in attrs) if k == "ItemCode"), "")
        status = next(
            (v for k, v in ((p.key.name, p.value) for p in attrs) if k == "CaseStatus"), ""
        )
        key = (
            execution.workflow_type,
            str(item),
            str(status),
            execution.status.name if execution.status else "",
        )
        kept.setdefault(key, execution.id + "/" + execution.run_id)  # newest first
    for (wf_type, item, status, run_status), ids in sorted(kept.items()):
        workflow_id, run_id = ids.split("/")
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        name = f"{region}-{wf_type}-{item}-{status}-{run_status}.json".lower()
        (HISTORIES / name).write_text(history.to_json())
    return len(kept)


async def main(minutes: float) -> None:
    since = datetime.now(UTC) - timedelta(minutes=minutes)
    settings = StackSettings()
    endpoints = load_endpoints(settings)
    HISTORIES.mkdir(parents=True, exist_ok=True)
    for region in REGIONS:
        client = await temporal_client(settings, endpoints, region)
        print(f"{region}: {await record(client, region, since)} histories")


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0))
