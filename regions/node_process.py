"""Starting and stopping regional nodes as their own OS processes (demo, tests)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from regions.naming import task_queue


@dataclass
class NodeProcess:
    region: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """kill -9: no cleanup at all, as a crash would leave things."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def spawn_node(
    region: str, log_dir: Path, env: dict[str, str] | None = None, *, label: str = ""
) -> NodeProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"node-{region}{f'-{label}' if label else ''}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "regions.cli", "node", "run", "--region", region],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return NodeProcess(region, process, log_path)


async def wait_until_polling(client: Client, node: NodeProcess, timeout: float = 60.0) -> None:
    """Ready means the node's worker is polling its task queue on the Temporal server."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue(node.region)),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(f"node {node.region} exited:\n{node.log_tail()}")
        response = await client.workflow_service.describe_task_queue(request)
        # Identity defaults to "<pid>@<host>": a poller left over from a killed earlier
        # process of the same region must not count as this one being ready.
        if any(p.identity.startswith(f"{node.process.pid}@") for p in response.pollers):
            return
        await asyncio.sleep(0.3)
    raise TimeoutError(
        f"node {node.region} did not start polling within {timeout:.0f}s:\n{node.log_tail()}"
    )
