"""A stack service (Kafka broker, Postgres, Temporal server) restarted under running nodes.

Each is stopped with the stack's own process management and started again with `up`
semantics, mid-run; the nodes are not restarted and must ride it out.
"""

from __future__ import annotations

import pytest

from deploy.stack.settings import StackEndpoints, StackSettings
from tests.faults.harness import run_fault
from tests.faults.injectors import assert_nodes_survive, restart
from tests.faults.invariants import Outsider
from tests.faults.runner import Runner
from tests.integration.api_nodes import ApiNodes
from tests.support.stack_access import dev_stack_only

pytestmark = [
    pytest.mark.integration,
    dev_stack_only(
        "restarts the dev stack's Temporal dev server, Kafka node and Postgres; the cluster's "
        "members are killed by test_cluster_faults"
    ),
]


@pytest.mark.parametrize(
    ("fault", "service"),
    [
        ("Temporal server restart", "temporal"),
        ("Postgres restart", "postgres"),
        ("Kafka broker restart", "kafka"),
    ],
)
async def test_a_restarted_service_loses_nothing_and_does_nothing_twice(
    fault: str,
    service: str,
    nodes: ApiNodes,
    stack: StackEndpoints,
    stack_settings: StackSettings,
) -> None:
    pids = {region: node.process.pid for region, node in nodes.nodes.nodes.items()}

    async def inject(_: Runner) -> Outsider | None:
        await restart(stack_settings, service)
        await assert_nodes_survive(nodes, pids)
        return None

    run = await run_fault(fault, nodes, stack, stack_settings, inject)
    assert run.findings.ok, run.explain()
    assert run.settled, run.explain()
    # The nodes rode the restart out: none died and had to be started again.
    survivors = {r: n.process.pid for r, n in nodes.nodes.nodes.items() if n.process.poll() is None}
    assert survivors == pids
