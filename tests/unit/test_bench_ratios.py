"""Issue 22's scale targets as the benches print them: which region points `bench scale`
measures, 34 regions over 2, and a pair with N open cases over the same pair empty."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from bench.idle import hosts
from bench.ratios import open_ratio_lines, region_points, region_ratio_lines, scale_points
from bench.stats import Latency, RunResult

HOP = "b_decided_to_a_received"


def test_scale_measures_both_kinds_by_default_and_only_the_kind_named() -> None:
    assert scale_points(None, None) == ([1, 2, 4], [2, 5, 34])
    assert scale_points(None, [2, 34]) == ([], [2, 34])
    assert scale_points([1, 2], None) == ([1, 2], [])
    assert scale_points([1], [2]) == ([1], [2])


def test_a_process_never_hosts_more_regions_than_there_are_and_points_are_not_repeated() -> None:
    assert region_points([2, 34], [1, 17]) == [(2, 1), (2, 2), (34, 1), (34, 17)]
    assert region_points([2, 34], [17, 34]) == [(2, 2), (34, 17), (34, 34)]


def test_34_regions_17_a_process_are_two_processes_the_second_full() -> None:
    regions = [str(110000 + 10000 * i) for i in range(34)]

    groups = hosts(regions, 17)

    assert [len(g) for g in groups] == [17, 17]
    assert [len(g) for g in hosts(regions, 9)] == [9, 9, 9, 7]
    assert [r for g in groups for r in g] == regions


def _row(regions: int, per_process: int, rate: float) -> dict[str, object]:
    processes = -(-regions // per_process)
    return {
        "regions": regions,
        "per_process": per_process,
        "processes": processes,
        "cases_per_s": rate,
    }


def test_34_regions_are_compared_with_the_pair_one_region_a_process() -> None:
    lines = region_ratio_lines([_row(2, 1, 6.0), _row(34, 1, 5.7), _row(34, 17, 4.8)])

    assert lines == [
        "34 regions / 2 regions throughput: 0.95 (target ≥ 0.9) met — 34 regions in 34"
        " processes 5.70 cases/s, 2 regions in 2 processes 6.00 cases/s",
        "34 regions / 2 regions throughput: 0.80 (target ≥ 0.9) MISSED — 34 regions in 2"
        " processes 4.80 cases/s, 2 regions in 2 processes 6.00 cases/s",
    ]


def test_a_hosted_34_is_also_compared_with_the_pair_hosted_the_same_way() -> None:
    lines = region_ratio_lines([_row(2, 1, 6.0), _row(2, 2, 5.0), _row(34, 17, 4.8)])

    assert [line.split(" — ")[0] for line in lines] == [
        "34 regions / 2 regions throughput: 0.80 (target ≥ 0.9) MISSED",
        "34 regions / 2 regions throughput: 0.96 (target ≥ 0.9) met",
    ]
    assert lines[1].endswith("2 regions in 1 process 5.00 cases/s")


def test_no_ratio_without_two_region_counts() -> None:
    assert region_ratio_lines([_row(34, 1, 5.0), _row(34, 17, 4.0)]) == []


def _run(rate: float | None, done: int, seconds: float, hop: tuple[float, float]) -> RunResult:
    p50, p99 = hop
    return RunResult(
        label="tongban",
        offered_rate=rate,
        cases=done,
        completed=done,
        duration_s=seconds,
        latency={HOP: Latency(p50, p99, p99, done)},
    )


def test_open_cases_lines_compare_each_run_with_its_empty_twin_and_each_node() -> None:
    empty = [_run(None, 100, 20.0, (100.0, 400.0)), _run(2.5, 100, 40.0, (50.0, 100.0))]
    opened = [_run(None, 100, 25.0, (105.0, 480.0)), _run(2.5, 100, 40.0, (52.0, 108.0))]

    lines = open_ratio_lines(
        empty,
        opened,
        2000,
        {"350000": 200.0, "440000": 180.0},
        {"350000": 210.0, "440000": 216.0},
    )

    assert lines == [
        "with 2000 open cases / empty, throughput: 0.80 (target ≥ 0.9) MISSED — 4.00 vs 5.00"
        " cases/s",
        "with 2000 open cases / empty, signed hop p50 / p99 at max: 1.05 / 1.20"
        " (target ≤ 1.10) met / MISSED — 105 / 480 vs 100 / 400 ms",
        "with 2000 open cases / empty, signed hop p50 / p99 at 2.50/s: 1.04 / 1.08"
        " (target ≤ 1.10) met / met — 52 / 108 vs 50 / 100 ms",
        "with 2000 open cases / empty, node 350000 RSS: 1.05 (target ≤ 1.10, flat) met"
        " — 210.0 vs 200.0 MB (+10.0 MB)",
        "with 2000 open cases / empty, node 440000 RSS: 1.20 (target ≤ 1.10, flat) MISSED"
        " — 216.0 vs 180.0 MB (+36.0 MB)",
    ]


def test_a_run_with_open_cases_and_no_empty_twin_is_not_compared() -> None:
    lines = open_ratio_lines(
        [_run(None, 10, 1.0, (1.0, 1.0))], [_run(3.0, 10, 1.0, (1.0, 1.0))], 5, {}, {}
    )

    assert lines == []


def test_the_open_cases_wait_for_b_and_the_measured_ones_do_not() -> None:
    from bench.memory import OPEN_BESIDE, OPEN_ITEM, open_item_application
    from bench.pair_run import bench_application

    measured = bench_application(0).item_code

    assert OPEN_BESIDE.automatic_steps(measured) == (
        "formal_review",
        "acceptance",
        "decision",
        "delivery",
    )
    assert "decision" not in OPEN_BESIDE.automatic_steps(OPEN_ITEM)
    assert open_item_application(7).item_code == OPEN_ITEM != measured


def test_the_opener_waits_for_b_after_each_chunk_and_stops_starting_chunks_when_late(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bench.memory as memory

    held = {"b": 0}
    log: list[str] = []

    async def submit_case(**kwargs: Any) -> None:
        log.append(f"submit {kwargs['application']}")
        held["b"] += 1  # B holds it at once: the fake's pair is instant

    async def open_count(pair: Any, query: str) -> int:
        log.append(f"count {held['b']}")
        return held["b"]

    monkeypatch.setattr(memory, "submit_case", submit_case)
    monkeypatch.setattr(memory, "_open_count", open_count)
    pair: Any = SimpleNamespace(services=SimpleNamespace(pool=None, client=None, credentials=None))

    done = asyncio.run(
        memory.open_waiting(pair, 5, first=10, application=lambda i: i, chunk=2)  # type: ignore[arg-type,return-value]
    )

    assert done == 5
    assert log == [
        "count 0",
        *("submit 10", "submit 11", "count 2"),
        *("submit 12", "submit 13", "count 4"),
        *("submit 14", "count 5"),
    ]
    log.clear()
    assert asyncio.run(memory.open_waiting(pair, 5, within_s=0.0, chunk=2)) == 0
    assert log == ["count 5"]
