"""One fault run: submit the workload, inject the fault mid-run, drive every case to its
end, check the invariants, and report the figures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from regions.stack.settings import StackEndpoints, StackSettings
from tests.faults import figures
from tests.faults.invariants import Findings, Outsider, check
from tests.faults.runner import Case, Runner
from tests.faults.workload import Scenario, standard_batch
from tests.integration.api_nodes import ApiNodes

Inject = Callable[[Runner], Awaitable[Outsider | None]]


@dataclass(frozen=True)
class FaultRun:
    fault: str
    findings: Findings
    settled: bool  # the runner saw every case at its end in both regions
    recover_s: float  # from the fault's end until every invariant held
    runtime_s: float
    cases: list[Case]

    def explain(self) -> str:
        return f"{self.fault}: " + "; ".join(self.findings.problems[:20])


async def mid_run(runner: Runner, timeout_s: float = 30.0) -> None:
    """Wait until cases are in flight: some already at the processing region, none closed
    everywhere yet, so the fault lands among cases in every phase."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(c.processing in c.seen for c in runner.cases):
            return
        await asyncio.sleep(0.2)


async def run_fault(
    fault: str,
    api: ApiNodes,
    stack: StackEndpoints,
    settings: StackSettings,
    inject: Inject,
    *,
    batch: list[tuple[Scenario, str, str]] | None = None,
    timeout_s: float = 180.0,
) -> FaultRun:
    started = time.monotonic()
    runner = Runner(api)
    for scenario, origin, processing in batch or standard_batch():
        await runner.submit(scenario, origin, processing)
    driving = asyncio.create_task(runner.drive(timeout_s))
    try:
        await mid_run(runner)
        outsider = await inject(runner)
        fault_over = time.monotonic()
        settled = await driving
    finally:
        driving.cancel()  # an injection that failed must not leave the runner polling
    findings = await check(runner.cases, stack, settings, api.nodes.clients, outsider)
    # A fault may make the API say "try again" (503); any other error answer is a defect.
    findings.problems += [f"a step was answered with an error: {f}" for f in runner.steps_failed]
    done = time.monotonic()
    run = FaultRun(fault, findings, settled, done - fault_over, done - started, runner.cases)
    figures.record(
        {
            "fault": fault,
            "cases": findings.cases,
            "lost": len(findings.lost),
            "duplicated": len(findings.duplicated),
            "recover_s": round(run.recover_s, 1),
            "runtime_s": round(run.runtime_s, 1),
            "steps_unavailable": runner.steps_unavailable,
            "steps_failed": len(runner.steps_failed),
            "problems": findings.problems[:20],
        }
    )
    return run


def open_cases(cases: list[Case]) -> list[str]:
    return [f"{c.case_no} {c.scenario.name} {c.seen}" for c in cases if c.settled_at is None]
