"""Nodes on the exchange as their own SCRAM principals, under the per-region ACLs.

The ACL test shows what a region may not do; this one shows the nodes' real traffic (idempotent
producer to the other inbox, consumer group on their own inbox, receipts both ways) is allowed,
so a case completes with each node authenticated as `region-<code>`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from deploy.stack import kafka
from deploy.stack.kafka_acls import join_regions, principal_name
from deploy.stack.settings import StackEndpoints, StackSettings
from regions.local import ensure_local_keys
from regions.node_process import NodeProcess, spawn_node, wait_until_polling
from tests.integration.automatic import AUTOMATIC_ENV, submit_automatic
from tests.integration.pair import ProvincePair
from tests.support.stack_access import dev_stack_only, temporal_client

pytestmark = [
    pytest.mark.integration,
    dev_stack_only(
        "moves the dev stack's nodes onto its SASL_PLAINTEXT listener; on the cluster every "
        "node already speaks SASL_SSL as its own principal"
    ),
]

A, B = "350000", "440000"


def _sasl_env(settings: StackSettings, region: str, password: str) -> dict[str, str]:
    return {
        **AUTOMATIC_ENV,
        "TONGBAN_NODE_KAFKA_BOOTSTRAP": kafka.sasl_bootstrap(settings),
        "TONGBAN_NODE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "TONGBAN_NODE_KAFKA_SASL_USERNAME": principal_name(region),
        "TONGBAN_NODE_KAFKA_SASL_PASSWORD": password,
    }


@pytest.fixture(scope="module")
async def sasl_nodes(
    stack: StackEndpoints, stack_settings: StackSettings
) -> AsyncIterator[dict[str, NodeProcess]]:
    ensure_local_keys(stack_settings, stack_settings.regions)
    passwords = {region: secrets.token_urlsafe(18) for region in (A, B)}
    await asyncio.to_thread(
        join_regions, stack_settings.state_dir, stack.kafka_bootstrap, dict(passwords)
    )
    log_dir = stack_settings.state_dir / "test-nodes-sasl"
    nodes = {
        region: spawn_node(region, log_dir, _sasl_env(stack_settings, region, passwords[region]))
        for region in (A, B)
    }
    try:
        for region, node in nodes.items():
            client = await temporal_client(stack_settings, stack, region)
            await wait_until_polling(client, node)
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


async def test_a_case_completes_with_each_node_as_its_own_principal(
    sasl_nodes: dict[str, NodeProcess], stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    pair = ProvincePair(A, B, sasl_nodes, {}, stack_settings.state_dir)
    handle = await submit_automatic(pair, stack, stack_settings)
    outcome = await asyncio.wait_for(handle.result(), timeout=90)
    assert (outcome.status, outcome.outcome) == ("closed", "approved")
    for region, node in sasl_nodes.items():
        log = node.log_tail(400)
        assert f"Authenticated as {principal_name(region)} via SCRAM-SHA-512" in log
        assert "AuthorizationFailed" not in log
        assert "SaslAuthenticationFailed" not in log
