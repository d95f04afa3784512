"""Issue 23's cluster faults: one member of the production shape killed under running nodes.

Runs only on the cluster profile (`TONGBAN_STACK_PROFILE=cluster`): three KRaft brokers with
RF 3 and min ISR 2, and Temporal's own services as separate processes. Each fault is kill -9 of
one member mid-run, a few seconds of absence, then `up` starts it again; the nodes are not
restarted and must ride it out with the usual invariants (nothing lost, nothing done twice).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from deploy.stack import cluster, cluster_kafka
from deploy.stack.cluster_layout import ClusterLayout
from deploy.stack.manager import up
from deploy.stack.settings import StackEndpoints, StackSettings
from events.topics import inbox_topic
from tests.faults.harness import run_fault
from tests.faults.injectors import assert_nodes_survive
from tests.faults.invariants import Outsider
from tests.faults.runner import Runner
from tests.faults.workload import CROSS
from tests.integration.api_nodes import ApiNodes

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("TONGBAN_STACK_PROFILE") != "cluster",
        reason="the cluster faults run with TONGBAN_STACK_PROFILE=cluster",
    ),
]

DOWN_S = 3.0  # how long the killed member stays away before `up` starts it again


async def _inbox_leader(settings: StackSettings) -> str:
    """The broker leading partition 0 of the processing region's inbox: the one its cases'
    forwarded events are written to."""
    layout = ClusterLayout.of(settings)
    leader, _ = await cluster_kafka.partition_leader(layout, inbox_topic(CROSS[1]), 0)
    return cluster_kafka.service_name(leader)


LEADER = "kill -9 of the broker leading B's inbox"
# The fault, and the Temporal service it kills (None: the inbox's leader, found at the time).
FAULTS: dict[str, str | None] = {
    LEADER: None,
    "kill -9 of temporal-history": "history",
    "kill -9 of temporal-matching": "matching",
}


async def _member(fault: str, settings: StackSettings) -> str:
    service = FAULTS[fault]
    if service is None:
        return await _inbox_leader(settings)
    return cluster.temporal_service_name(service)


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_killed_cluster_member_loses_nothing_and_does_nothing_twice(
    fault: str,
    nodes: ApiNodes,
    stack: StackEndpoints,
    stack_settings: StackSettings,
) -> None:
    pids = {region: node.process.pid for region, node in nodes.nodes.nodes.items()}

    async def inject(_: Runner) -> Outsider | None:
        member = await _member(fault, stack_settings)
        assert cluster.kill_member(stack_settings, member), f"{member} was not running"
        await asyncio.sleep(DOWN_S)
        await up(stack_settings)
        await assert_nodes_survive(nodes, pids)
        return None

    run = await run_fault(fault, nodes, stack, stack_settings, inject)
    assert run.findings.ok, run.explain()
    assert run.settled, run.explain()
