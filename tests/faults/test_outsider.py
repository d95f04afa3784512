"""北京 (110000), with its own valid keys, sends events about cases it is not party to."""

from __future__ import annotations

import pytest

from deploy.stack.settings import StackEndpoints, StackSettings
from tests.faults.harness import run_fault
from tests.faults.injectors import outsider_events
from tests.faults.invariants import Outsider
from tests.faults.runner import Runner
from tests.faults.workload import OUTSIDER
from tests.integration.api_nodes import ApiNodes

pytestmark = pytest.mark.integration


async def test_an_outsiders_events_are_quarantined_and_never_applied(
    nodes: ApiNodes, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    async def inject(runner: Runner) -> Outsider | None:
        expected: dict[tuple[str, int, int], str] = {}
        # Every case the processing region already holds: each was forwarded.
        for case in [c for c in runner.cases if c.processing in c.seen]:
            expected |= await outsider_events(stack, stack_settings, OUTSIDER, case)
        assert expected
        return Outsider(OUTSIDER, expected)

    run = await run_fault("outsider region's events", nodes, stack, stack_settings, inject)
    # The checker also asserts each record's quarantine reason and that no inbox holds one.
    assert run.findings.ok, run.explain()
    assert run.settled, run.explain()
