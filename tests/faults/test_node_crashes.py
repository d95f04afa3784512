"""kill -9 of a regional node in the middle of a mixed workload."""

from __future__ import annotations

import pytest

from deploy.stack.settings import StackEndpoints, StackSettings
from tests.faults.harness import run_fault
from tests.faults.injectors import kill_node
from tests.faults.invariants import Outsider
from tests.faults.runner import Runner
from tests.faults.workload import CROSS
from tests.integration.api_nodes import ApiNodes

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("fault", "region"),
    [("kill -9 of A's node", CROSS[0]), ("kill -9 of B's node", CROSS[1])],
)
async def test_a_killed_node_loses_nothing_and_does_nothing_twice(
    fault: str,
    region: str,
    nodes: ApiNodes,
    stack: StackEndpoints,
    stack_settings: StackSettings,
) -> None:
    async def inject(_: Runner) -> Outsider | None:
        await kill_node(nodes, region)
        return None

    run = await run_fault(fault, nodes, stack, stack_settings, inject)
    assert run.findings.ok, run.explain()
    assert run.settled, run.explain()
