"""The idle bench's arithmetic (issue 22 item 3): CPU over a window as a share of a core,
one /proc snapshot per edge, the mean memory by part over nodes' log lines, the target lines."""

from __future__ import annotations

import pytest

from bench.idle import (
    children_by_group,
    cpu_percent_of_core,
    mean_by_part,
    postgres_group,
    pss_kib,
    target_lines,
    ticks_by_group,
    ticks_by_root,
    window_percent,
)
from bench.proc_cpu import ProcStat


def test_a_second_of_ticks_over_a_hundred_seconds_is_one_percent_of_a_core() -> None:
    assert cpu_percent_of_core(100, 100.0, clock_ticks=100) == pytest.approx(1.0)


def test_roots_are_read_as_trees_and_a_vanished_root_is_left_out() -> None:
    stats = [ProcStat(10, 1, 5, 5, 0, 0), ProcStat(11, 10, 3, 1, 2, 0)]

    assert ticks_by_root({"postgres": 10, "node 350000": 77}, stats) == {"postgres": 16}


def test_a_window_covers_only_names_seen_at_both_edges() -> None:
    percent = window_percent({"a": 100, "b": 50}, {"a": 100 + 600, "c": 1}, 60.0)

    assert list(percent) == ["a"]
    assert percent["a"] == pytest.approx(cpu_percent_of_core(600, 60.0))


def test_memory_by_part_is_the_mean_over_nodes_and_skips_other_lines() -> None:
    lines = [
        "x INFO regions.node: node 350000 running",
        "x INFO regions.node_memory: node 350000 memory by part: before parts 130.0 MB,"
        " worker built +4.0 MB, total 134.0 MB",
        "x INFO regions.node_memory: node 440000 memory by part: before parts 132.0 MB,"
        " worker built +6.0 MB, total 138.0 MB",
    ]

    assert mean_by_part(lines) == {"before parts": 131.0, "worker built": 5.0, "total": 136.0}


def test_the_target_lines_give_mean_and_max_and_the_34_node_target() -> None:
    lines = target_lines([0.25, 0.75], 34, 34 * 150.0)

    assert lines == [
        "idle node CPU (mean/max): 0.50 % / 0.75 % of a core (target < 1 %)",
        "34 idle nodes total RSS: 4.98 GB (target ≤ 2.2 GB)",
    ]


@pytest.mark.parametrize(
    ("title", "group"),
    [
        ("postgres: postgres tongban_350100 [local] idle", "tongban_350100"),
        ("postgres: tongban tongban_440000 127.0.0.1(51234) idle in transaction", "tongban_440000"),
        ("postgres: checkpointer ", "server"),
        ("postgres: autovacuum worker tongban_350000", "server"),
        ("", "server"),
    ],
)
def test_a_backend_is_grouped_by_the_database_in_its_title(title: str, group: str) -> None:
    assert postgres_group(title) == group


def test_backends_count_their_window_and_a_new_one_all_its_ticks() -> None:
    titles = {
        11: "postgres: u tongban_350000 [local] idle",
        12: "postgres: u tongban_350000 [local] idle",
        13: "postgres: walwriter",
    }
    before = children_by_group(
        10, [ProcStat(11, 10, 50, 0, 0, 0), ProcStat(13, 10, 9, 0, 0, 0)], titles.__getitem__
    )
    after = children_by_group(
        10,
        [
            ProcStat(11, 10, 70, 0, 0, 0),
            ProcStat(12, 10, 4, 1, 0, 0),  # started within the window
            ProcStat(13, 10, 9, 1, 0, 0),
            ProcStat(99, 1, 500, 0, 0, 0),  # not a child of the postmaster
        ],
        titles.__getitem__,
    )

    assert ticks_by_group(before, after) == {"tongban_350000": 20 + 5, "server": 1}


def test_pss_is_read_from_smaps_rollup_not_rss() -> None:
    rollup = "55d0-7ffe ---p 00000000 00:00 0 [rollup]\nRss:  150000 kB\nPss:   98000 kB\n"

    assert pss_kib(rollup) == 98000
    with pytest.raises(ValueError, match="Pss"):
        pss_kib("Rss:  150000 kB\n")


def test_regions_hosted_several_to_a_process_are_grouped_and_counted() -> None:
    from bench.idle import IdleRun, host_name, hosts

    regions = [f"{n}0000" for n in range(11, 16)]
    assert hosts(regions, 2) == [("110000", "120000"), ("130000", "140000"), ("150000",)]
    assert [host_name(g) for g in hosts(regions, 2)] == ["110000+1", "130000+1", "150000"]
    with pytest.raises(ValueError, match="at least 1"):
        hosts(regions, 0)
    run = IdleRun(
        label="t",
        regions=3,
        window_s=60.0,
        node_cpu_percent={"110000+1": 1.0, "130000": 0.4},
        node_rss_mb={"110000+1": 180.0, "130000": 150.0},
        node_pss_mb={},
        stack_cpu_percent={},
        stack_alone_cpu_percent={},
        memory_by_part_mb={},
        postgres_cpu_percent_by_database={},
        per_process=2,
        hosted={"110000+1": 2, "130000": 1},
    )
    assert (run.processes, run.total_rss_mb) == (2, 330.0)
    assert run.region_cpu_percent() == [0.5, 0.5, 0.4]


def test_the_target_lines_of_hosted_regions_say_how_many_processes() -> None:
    lines = target_lines([0.2, 0.3], 34, 1024.0, processes=2)

    assert lines == [
        "idle region CPU (per process / its regions) (mean/max): 0.25 % / 0.30 % of a core"
        " (target < 1 %)",
        "34 idle regions in 2 processes total RSS: 1.00 GB (target ≤ 2.2 GB)",
    ]
