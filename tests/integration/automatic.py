"""Nodes whose policies take every step, for tests about the exchange rather than people.

A node's default is that people decide (decision 0024); a test that needs cases to run to their
end on their own says so by starting its nodes with `AUTOMATIC_ENV` and submitting at A with
`AUTOMATIC_POLICIES`."""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowHandle

from deploy.stack.settings import StackEndpoints, StackSettings
from regions.case_handles import processing_handle
from regions.local import local_node_settings
from regions.node import node_services
from regions.policies import CasePolicies
from regions.window import Application, submit_case
from tests.integration.pair import ProvincePair
from workflows.intake import IntakeWorkflow
from workflows.models import CaseOutcome

AUTOMATIC_POLICIES = CasePolicies.automatic()
AUTOMATIC_ENV = {"TONGBAN_NODE_POLICIES": AUTOMATIC_POLICIES.model_dump_json()}


async def submit_automatic(
    pair: ProvincePair,
    stack: StackEndpoints,
    stack_settings: StackSettings,
    application: Application | None = None,
) -> WorkflowHandle[IntakeWorkflow, CaseOutcome]:
    """Submit a case at the pair's origin with `AUTOMATIC_POLICIES` (a fresh application unless
    one is given); the intake's handle."""
    origin = local_node_settings(pair.origin, stack_settings, stack)
    async with node_services(origin) as services:
        return await submit_case(
            pool=services.pool,
            client=services.client,
            credentials=services.credentials,
            application=application or pair.application(),
            policies=AUTOMATIC_POLICIES,
        )


async def submit_and_see_both_approved(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings
) -> str:
    """Submit a case as `submit_automatic` does and wait until both regions' workflows end
    approved; the case number."""
    handle = await submit_automatic(pair, stack, stack_settings)
    case_no = handle.id.removeprefix("intake-")
    outcome = await asyncio.wait_for(handle.result(), timeout=90)
    assert (outcome.status, outcome.outcome) == ("closed", "approved")
    processing = processing_handle(pair.clients[pair.processing], case_no)
    b_outcome = await asyncio.wait_for(processing.result(), timeout=30)
    assert (b_outcome.status, b_outcome.outcome) == ("closed", "approved")
    return case_no
