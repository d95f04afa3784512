"""One fault run: submit the workload, inject the fault mid-run, drive every case to its
end, check the invariants, and report the figures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from deploy.stack.settings import StackEndpoints, StackSettings
from tests.faults import figures
from tests.faults.invariants import Findings, Outsider, check
from tests.faults.runner import Case, Runner, describe_open
from tests.faults.workload import Scenario, standard_batch
from tests.integration.api_nodes import ApiNodes
from tests.waiting import eventually

Inject = Callable[[Runner], Awaitable[Outsider | None]]


@dataclass(frozen=True)
class FaultRun:
    fault: str
    findings: Findings
    settled: bool  # the runner saw every case at its end in both regions
    recover_s: float  # from the fault's end until every invariant held
    runtime_s: float
    cases: list[Case]
    # The nodes' last log lines when a case never settled: what CI shows of a stuck case.
    node_logs: str = ""

    def explain(self) -> str:
        still_open = [c for c in self.cases if c.settled_at is None]
        unsettled = [describe_open(still_open)] if still_open else []
        return (
            f"{self.fault}: "
            + "; ".join(unsettled + self.findings.problems[:20])
            + (f"\n{self.node_logs}" if self.node_logs else "")
        )


# The fault lands once this many cases are at their processing region and not yet closed:
# a fault that hits an idle system, or one whose cases all closed, proves nothing.
IN_FLIGHT = 5
MID_RUN_TIMEOUT_S = 60.0
# Per fault run: 54 cases, the fault, and its recovery, with room for a slow CI machine.
DRIVE_TIMEOUT_S = 240.0


def _in_flight(cases: list[Case]) -> list[Case]:
    return [c for c in cases if c.processing in c.seen and c.settled_at is None]


async def mid_run(
    runner: Runner, submitting: asyncio.Task[None], timeout_s: float = MID_RUN_TIMEOUT_S
) -> None:
    """Wait until cases are in flight: `IN_FLIGHT` of them already at the processing region
    and not yet closed, so the fault lands among cases in every phase. Fails the run when
    that never happens: the fault would land before any case is in flight."""

    async def in_flight() -> int:
        if submitting.done():
            submitting.result()  # a submission that failed fails the run now, not at timeout
        return len(_in_flight(runner.cases))

    await eventually(
        in_flight,
        until=lambda n: n >= IN_FLIGHT,
        timeout=timeout_s,
        what=f"{IN_FLIGHT} cases in flight before the fault",
        describe=lambda n: (
            f"{n} in flight; {len(runner.cases)} submitted,"
            f" {sum(c.settled_at is not None for c in runner.cases)} closed"
        ),
    )


async def _submit_all(runner: Runner, batch: list[tuple[Scenario, str, str]]) -> None:
    """The batch, one application after another as a window would take them, while the
    runner drives the cases already submitted and the fault lands."""
    for scenario, origin, processing in batch:
        await runner.submit(scenario, origin, processing)


def _node_logs(api: ApiNodes, lines: int = 25) -> str:
    return "\n".join(
        f"--- node {region}\n{node.log_tail(lines)}" for region, node in api.nodes.nodes.items()
    )


async def run_fault(
    fault: str,
    api: ApiNodes,
    stack: StackEndpoints,
    settings: StackSettings,
    inject: Inject,
    *,
    batch: list[tuple[Scenario, str, str]] | None = None,
    timeout_s: float = DRIVE_TIMEOUT_S,
) -> FaultRun:
    started = time.monotonic()
    runner = Runner(api)
    submitted = asyncio.Event()
    submitting = asyncio.create_task(_submit_all(runner, batch or standard_batch()))
    submitting.add_done_callback(lambda _: submitted.set())
    driving = asyncio.create_task(runner.drive(timeout_s, submitting=submitted))
    try:
        await mid_run(runner, submitting)
        outsider = await inject(runner)
        fault_over = time.monotonic()
        await submitting
        settled = await driving
    finally:
        # A failed injection or submission must not leave the runner polling.
        submitting.cancel()
        driving.cancel()
    findings = await check(runner.cases, stack, settings, api.nodes.clients, outsider)
    # A fault may make the API say "try again" (503); any other error answer is a defect.
    findings.problems += [f"a step was answered with an error: {f}" for f in runner.steps_failed]
    done = time.monotonic()
    logs = "" if settled else _node_logs(api)
    run = FaultRun(fault, findings, settled, done - fault_over, done - started, runner.cases, logs)
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
