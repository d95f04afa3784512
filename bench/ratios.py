"""Issue 22's scale targets as printed lines: 34 regions against 2, and a pair carrying N open
cases against the same pair empty. Pure: the benches measure, these compare."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.stats import RunResult

TARGET_REGIONS_RATIO = 0.9  # N regions / 2 regions throughput
TARGET_OPEN_RATIO = 0.9  # with open cases / empty, throughput
# "Within 10 %": hop latency and node memory with open cases over the empty figure.
TARGET_OPEN_GROWTH = 1.10
HOP = "b_decided_to_a_received"


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def scale_points(
    workers: Sequence[int] | None, regions: Sequence[int] | None
) -> tuple[list[int], list[int]]:
    """`bench scale`'s worker and region points: both kinds by default (1/2/4 workers, 2/5/34
    regions); naming only one kind measures only that kind."""
    return (
        list(workers) if workers else ([] if regions else [1, 2, 4]),
        list(regions) if regions else ([] if workers else [2, 5, 34]),
    )


def region_points(counts: Sequence[int], per_process: Sequence[int]) -> list[tuple[int, int]]:
    """Every (regions, regions a process) point to measure, in order: a process cannot host
    more regions than there are, so 2 regions at 17 a process is 2 in one, measured once."""
    points: list[tuple[int, int]] = []
    for count in counts:
        for each in per_process:
            point = (count, min(each, count))
            if point not in points:
                points.append(point)
    return points


def _held(row: Mapping[str, Any]) -> str:
    processes = row.get("processes", row["regions"])
    return f"{row['regions']} regions in {processes} process{'es' if processes != 1 else ''}"


def region_ratio_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per point of the most regions, against the fewest regions. The reference is
    the fewest regions one to a process (a province pair as it runs, decision 0047), and also
    the fewest at the same grouping when that was measured and differs."""
    counts = sorted({int(r["regions"]) for r in rows})
    if len(counts) < 2:
        return []
    low, high = counts[0], counts[-1]
    bottoms = [r for r in rows if r["regions"] == low]
    lines = []
    for top in (r for r in rows if r["regions"] == high):
        references = [r for r in bottoms if r.get("per_process", 1) == 1]
        same = [
            r
            for r in bottoms
            if r.get("per_process", 1) == min(top.get("per_process", 1), low)
            and r not in references
        ]
        for ref in [*references, *same] or bottoms[:1]:
            base = float(ref["cases_per_s"])
            ratio = float(top["cases_per_s"]) / base if base else 0.0
            lines.append(
                f"{high} regions / {low} regions throughput: {ratio:.2f}"
                f" (target ≥ {TARGET_REGIONS_RATIO}) {_verdict(ratio >= TARGET_REGIONS_RATIO)}"
                f" — {_held(top)} {top['cases_per_s']:.2f} cases/s,"
                f" {_held(ref)} {ref['cases_per_s']:.2f} cases/s"
            )
    return lines


def _rate(run: RunResult) -> str:
    return "max" if run.offered_rate is None else f"{run.offered_rate:.2f}/s"


def open_ratio_lines(
    empty: Sequence[RunResult],
    opened: Sequence[RunResult],
    open_cases: int,
    rss_empty_mb: Mapping[str, float],
    rss_open_mb: Mapping[str, float],
) -> list[str]:
    """The open-cases targets: throughput at max, the signed hop at each offered rate run both
    ways, and each node's RSS, each figure with N open over the same figure empty."""
    lines = []
    with_open = f"with {open_cases} open cases / empty"
    for run in opened:
        twin = next((r for r in empty if r.offered_rate == run.offered_rate), None)
        if twin is None:
            continue
        if run.offered_rate is None:
            ratio = run.throughput / twin.throughput if twin.throughput else 0.0
            lines.append(
                f"{with_open}, throughput: {ratio:.2f} (target ≥ {TARGET_OPEN_RATIO})"
                f" {_verdict(ratio >= TARGET_OPEN_RATIO)} — {run.throughput:.2f} vs"
                f" {twin.throughput:.2f} cases/s"
            )
        ours, base = run.latency.get(HOP), twin.latency.get(HOP)
        if ours is None or base is None or not base.p50_ms or not base.p99_ms:
            continue
        p50, p99 = ours.p50_ms / base.p50_ms, ours.p99_ms / base.p99_ms
        lines.append(
            f"{with_open}, signed hop p50 / p99 at {_rate(run)}: {p50:.2f} / {p99:.2f}"
            f" (target ≤ {TARGET_OPEN_GROWTH:.2f}) {_verdict(p50 <= TARGET_OPEN_GROWTH)} /"
            f" {_verdict(p99 <= TARGET_OPEN_GROWTH)} — {ours.p50_ms:.0f} / {ours.p99_ms:.0f}"
            f" vs {base.p50_ms:.0f} / {base.p99_ms:.0f} ms"
        )
    for node, before in rss_empty_mb.items():
        after = rss_open_mb.get(node)
        if after is None or not before:
            continue
        ratio = after / before
        lines.append(
            f"{with_open}, node {node} RSS: {ratio:.2f} (target ≤ {TARGET_OPEN_GROWTH:.2f},"
            f" flat) {_verdict(ratio <= TARGET_OPEN_GROWTH)} — {after:.1f} vs {before:.1f} MB"
            f" ({after - before:+.1f} MB)"
        )
    return lines
