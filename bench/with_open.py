"""`bench cases --open N` (issue 22 item 4): the cases measurement again on the same pair of
nodes once N cases wait there for a person's decision, beside the figures it gave empty.

The open cases are of another item than the measured ones (`bench.memory.OPEN_ITEM`), whose
decision B's node policy leaves to people, so they stay open in both regions while the
measured cases run automatically through the same workers, topics, outboxes and databases.
Afterwards they are terminated in both regions (unless kept), and the run waits until none
is left running: other benches on the same pair must not find thousands of open cases beside
theirs. Their rows stay in the regions' databases, as bench memory's do.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bench.cost import CostMeter
from bench.memory import (
    OPEN_BESIDE,
    OPEN_ITEM_QUERY,
    close_opened,
    open_item_application,
    open_waiting,
)
from bench.pair_run import PairUnderTest, run_pair
from bench.processes import peak_rss_mb, rss_mb
from bench.stats import RunResult

SETTLE_S = 5.0
# Cases opened at a time: `--open-seconds` then overshoots by at most one chunk's opening.
CHUNK = 500


@dataclass
class OpenPhase:
    requested: int
    open_before: int  # open cases of the open item found on the pair before opening any
    opened: int
    seconds_to_open: float
    runs: list[RunResult] = field(default_factory=list)
    # Each node's RSS (MB): after the empty runs, once the cases are open, after the runs
    # with them open; and its high-water mark at the end.
    rss_empty_mb: dict[str, float] = field(default_factory=dict)
    rss_opened_mb: dict[str, float] = field(default_factory=dict)
    rss_open_mb: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    seconds_to_close: float | None = None  # None: kept open

    @property
    def open_cases(self) -> int:
        return self.open_before + self.opened

    @property
    def opening_rate(self) -> float:
        return self.opened / self.seconds_to_open if self.seconds_to_open else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "open_before": self.open_before,
            "opened": self.opened,
            "open_cases": self.open_cases,
            "seconds_to_open": round(self.seconds_to_open, 1),
            "opened_per_s": round(self.opening_rate, 2),
            "rss_empty_mb": self.rss_empty_mb,
            "rss_opened_mb": self.rss_opened_mb,
            "rss_open_mb": self.rss_open_mb,
            "peak_rss_mb": self.peak_rss_mb,
            "seconds_to_close": self.seconds_to_close,
            "runs": [r.to_json() for r in self.runs],
        }


def _rss(pair: PairUnderTest) -> dict[str, float]:
    return {n.region: round(rss_mb(n.process.pid), 1) for n in pair.nodes}


async def open_count(pair: PairUnderTest) -> int:
    return (await pair.processing_client.count_workflows(OPEN_ITEM_QUERY)).count


# A's side of an open case once B's acceptance has reached it: B holding a case open is not
# the end of the opening; A still applies B's accepted event and its document (2026-12-01:
# with 10,000 B held them all while ≈ 5,800 were still in transit at A).
A_WAITING_QUERY = OPEN_ITEM_QUERY.replace("Processing", "Intake") + " AND CaseStatus = 'processing'"


async def until_a_waits(pair: PairUnderTest, expected: int, timeout: float) -> float:
    """Wait until A shows `expected` open cases as processing in B: the seconds it took."""
    began = time.monotonic()
    while time.monotonic() < began + timeout:
        if (await pair.services.client.count_workflows(A_WAITING_QUERY)).count >= expected:
            return time.monotonic() - began
        await asyncio.sleep(2.0)
    raise TimeoutError(f"A did not show {expected} open cases as processing in {timeout:.0f} s")


async def measure_with_open(
    pair: PairUnderTest,
    empty: list[RunResult],
    *,
    requested: int,
    within_s: float | None,
    cases: int,
    meter: CostMeter | None,
    console: Any,
    keep_open: bool = False,
) -> OpenPhase:
    """Open up to `requested` cases (fewer if `within_s` runs out), then run each tongban run
    of `empty` again at the same offered rate (max first)."""
    phase = OpenPhase(
        requested=requested,
        open_before=await open_count(pair),
        opened=0,
        seconds_to_open=0.0,
        rss_empty_mb=_rss(pair),
    )
    if phase.open_before:
        console.print(
            f"[yellow]{phase.open_before} cases of the open item were already open on this pair"
            " (an earlier run's): the empty runs had them too[/yellow]"
        )
    began = time.monotonic()
    phase.opened = await open_waiting(
        pair,
        requested,
        policies=OPEN_BESIDE,
        application=open_item_application,
        query=OPEN_ITEM_QUERY,
        within_s=within_s,
        chunk=CHUNK,
    )
    await until_a_waits(pair, phase.open_cases, max(1800.0, float(phase.opened)))
    phase.seconds_to_open = time.monotonic() - began
    console.print(
        f"opened {phase.opened} of {requested} cases in {phase.seconds_to_open:.0f} s"
        f" ({phase.opening_rate:.2f}/s); {phase.open_cases} open in B"
    )
    await asyncio.sleep(SETTLE_S)  # the last activities and polls
    phase.rss_opened_mb = _rss(pair)
    for twin in (r for r in empty if r.label == "tongban"):
        run = await run_pair(pair, cases=cases, rate=twin.offered_rate, meter=meter)
        run.open_cases = phase.open_cases
        phase.runs.append(run)
    phase.rss_open_mb = _rss(pair)
    phase.peak_rss_mb = {n.region: round(peak_rss_mb(n.process.pid), 1) for n in pair.nodes}
    if not keep_open:
        try:
            phase.seconds_to_close = await close_opened(pair, OPEN_ITEM_QUERY, timeout=600.0)
            console.print(f"terminated the open cases in {phase.seconds_to_close:.0f} s")
        except TimeoutError as exc:
            # The figures above stand; what is left open is said, not hidden.
            console.print(f"[red]{exc}: {await open_count(pair)} still open in B[/red]")
    return phase
