"""Printing a benchmark's figures beside the baseline and the targets, and plotting them."""

from __future__ import annotations

from pathlib import Path

from bench.cost import BASELINE_GROUPS, TARGET_CPU_RATIO, cpu_ratio
from bench.hop_parts import PARTS
from bench.stats import RunResult

HOP = "b_decided_to_a_received"
# Issue 22's targets (the earlier 0.8 and 250 ms were issue 3's).
TARGET_THROUGHPUT_RATIO = 0.9
TARGET_HOP_P99_MS = 150.0
TARGET_HISTORY_EVENTS = 40


def _rate(result: RunResult) -> str:
    return "max" if result.offered_rate is None else f"{result.offered_rate:.1f}/s"


def table(runs: list[RunResult]) -> str:
    lines = [
        f"{'run':<9} {'offered':>8} {'cases':>5} {'cases/s':>8} {'events/s':>8} "
        f"{'hist/case':>9}  {'latency p50/p95/p99 ms':<60}"
    ]
    for r in runs:
        lat = "  ".join(
            f"{name.split('_')[0] if name != HOP else 'hop'}"
            f" {v.p50_ms:.0f}/{v.p95_ms:.0f}/{v.p99_ms:.0f}"
            for name, v in r.latency.items()
        )
        events = f"{r.events_per_s:.1f}" if r.events_per_s is not None else "-"
        hist = f"{r.history_events_per_case:.0f}" if r.history_events_per_case else "-"
        lines.append(
            f"{r.label:<9} {_rate(r):>8} {r.completed:>5} {r.throughput:>8.2f} {events:>8} "
            f"{hist:>9}  {lat}"
        )
    return "\n".join(lines)


def hop_parts_table(runs: list[RunResult]) -> str:
    """B's decision step in parts (bench/hop_parts.py), p50/p95/p99 ms, one row per run."""
    parted = [r for r in runs if r.hop_parts]
    if not parted:
        return "(no hop parts)"
    lines = [f"{'run':<14}" + "".join(f"{h:>22}" for h in PARTS.values()) + "  A polls/step"]
    for r in parted:
        cells = [
            f"{v.p50_ms:.0f}/{v.p95_ms:.0f}/{v.p99_ms:.0f}" for v in (r.hop_parts[k] for k in PARTS)
        ]
        polls = f"{r.hop_polls_per_step:.2f}" if r.hop_polls_per_step is not None else "-"
        lines.append(
            f"{r.label + ' ' + _rate(r):<14}"
            + "".join(f"{c:>22}" for c in cells)
            + f"  {polls:>12}"
        )
    return "\n".join(lines)


def cost_table(runs: list[RunResult]) -> str:
    """CPU seconds per case of each process group, then RPCs and transactions per case, one
    column per measured run. A baseline's total counts only the processes it runs on; its
    other rows show what the idle stack and nodes beside it used meanwhile."""
    costed = [r for r in runs if r.cost is not None]
    if not costed:
        return "(no cost figures)"
    groups = list(dict.fromkeys(g for r in costed if r.cost for g in r.cost.cpu_s_per_case))
    heads = [f"{r.label} {_rate(r)}" for r in costed]
    lines = [f"{'CPU-s per case':<22}" + "".join(f"{h:>18}" for h in heads)]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"{name:<22}" + "".join(f"{c:>18}" for c in cells))

    for group in groups:
        row(
            group,
            [
                f"{r.cost.cpu_s_per_case[group]:.3f}"
                if r.cost and group in r.cost.cpu_s_per_case
                else "-"
                for r in costed
            ],
        )
    row(
        "total (its processes)",
        [
            f"{r.cost.cpu_s_per_case_of(BASELINE_GROUPS if r.label == 'baseline' else None):.3f}"
            for r in costed
            if r.cost
        ],
    )
    row(
        "Temporal RPCs/case",
        [_maybe(r.cost.rpcs_per_case if r.cost else None, ".1f") for r in costed],
    )
    row(
        "Postgres xacts/case",
        [_maybe(r.cost.xacts_per_case if r.cost else None, ".1f") for r in costed],
    )
    row("cases in window", [str(r.cost.cases) if r.cost else "-" for r in costed])
    lines += [
        f"cpu per case ours/baseline at {_rate(ours)}: {ratio:.2f}"
        for ours, ratio in paired_cpu_ratios(runs)
    ]
    return "\n".join(lines)


def paired_cpu_ratios(runs: list[RunResult]) -> list[tuple[RunResult, float]]:
    """Each tongban run with its CPU per case over the baseline's at the same offered rate."""
    paired = []
    for ours in runs:
        if ours.label != "tongban" or ours.cost is None:
            continue
        base = next(
            (
                r
                for r in runs
                if r.label == "baseline" and r.offered_rate == ours.offered_rate and r.cost
            ),
            None,
        )
        ratio = cpu_ratio(ours.cost, base.cost) if base is not None and base.cost else None
        if ratio is not None:
            paired.append((ours, ratio))
    return paired


def _maybe(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def targets(ours_max: RunResult, base_max: RunResult, ours_half: RunResult | None) -> str:
    ratio = ours_max.throughput / base_max.throughput if base_max.throughput else 0.0
    lines = [
        f"throughput ours/baseline: {ratio:.2f} (target ≥ {TARGET_THROUGHPUT_RATIO})"
        f" {'met' if ratio >= TARGET_THROUGHPUT_RATIO else 'MISSED'}",
    ]
    cpu = cpu_ratio(ours_max.cost, base_max.cost) if ours_max.cost and base_max.cost else None
    if cpu is not None:
        lines.append(
            f"cpu per case ours/baseline: {cpu:.2f} (target ≤ {TARGET_CPU_RATIO})"
            f" {'met' if cpu <= TARGET_CPU_RATIO else 'MISSED'}"
        )
    for name in ours_max.latency:
        ours, base = ours_max.latency[name], base_max.latency.get(name)
        if base and base.p50_ms:
            lines.append(
                f"latency {name} p50 ours/baseline: {ours.p50_ms / base.p50_ms:.2f}"
                f" (p99 {ours.p99_ms:.0f} vs {base.p99_ms:.0f} ms)"
            )
    if ours_half is not None:
        hop = ours_half.latency[HOP].p99_ms
        lines.append(
            f"signed hop p99 at {_rate(ours_half)} (half of max): {hop:.0f} ms"
            f" (target ≤ {TARGET_HOP_P99_MS:.0f}) {'met' if hop <= TARGET_HOP_P99_MS else 'MISSED'}"
        )
    hist = ours_max.history_events_per_case or 0
    verdict = "met" if hist <= TARGET_HISTORY_EVENTS else "MISSED"
    lines.append(
        f"history events per approved case, both regions: {hist:.0f}"
        f" (target ≤ {TARGET_HISTORY_EVENTS}) {verdict}"
    )
    return "\n".join(lines)


def plot(runs: list[RunResult], path: Path) -> None:
    """Latency percentiles (end to end and the signed hop) against the offered rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric, title in (
        (axes[0], "end_to_end", "end to end (submit → A closed)"),
        (axes[1], HOP, "signed hop (B decided → A received)"),
    ):
        for label, style in (("tongban", "-o"), ("baseline", "--s")):
            points = sorted(
                (r.offered_rate or r.throughput, r.latency[metric])
                for r in runs
                if r.label == label and metric in r.latency
            )
            if not points:
                continue
            rates = [p[0] for p in points]
            for pct, alpha in (("p50_ms", 1.0), ("p95_ms", 0.7), ("p99_ms", 0.45)):
                ax.plot(
                    rates,
                    [getattr(p[1], pct) for p in points],
                    style,
                    alpha=alpha,
                    label=f"{label} {pct[:3]}",
                )
        ax.set_title(title)
        ax.set_xlabel("offered rate (cases/s; max runs at achieved rate)")
        ax.set_ylabel("latency (ms)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
