"""Percentiles and the figures a benchmark run reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from temporalio.client import WorkflowExecutionDescription

from bench.cost import CaseCost


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is a latency that happened)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    samples: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = [s * 1000 for s in seconds]
        return cls(percentile(ms, 50), percentile(ms, 95), percentile(ms, 99), len(ms))


@dataclass
class RunResult:
    """One measured run: tongban or the baseline, at one offered rate."""

    label: str
    offered_rate: float | None  # cases/s offered; None = as fast as possible
    cases: int
    completed: int
    duration_s: float
    latency: dict[str, Latency] = field(default_factory=dict)
    events_per_s: float | None = None
    history_events_per_case: float | None = None
    node_peak_rss_mb: dict[str, float] = field(default_factory=dict)
    cost: CaseCost | None = None  # with a CostMeter: CPU, RPCs, transactions per case
    open_cases: int = 0  # cases held open on the same nodes meanwhile (`bench cases --open`)
    # tongban only: B's decision step from its commit to A's delivery, in parts (hop_parts.py)
    hop_parts: dict[str, Latency] = field(default_factory=dict)
    hop_polls_per_step: float | None = None

    @property
    def throughput(self) -> float:
        return self.completed / self.duration_s if self.duration_s else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "throughput_cases_per_s": self.throughput}


def history_events(*descriptions: WorkflowExecutionDescription) -> int:
    """A case's history events summed over its workflows (one per region)."""
    return sum(d.raw_description.workflow_execution_info.history_length for d in descriptions)
