"""Cost per case (issue 22): /proc stat lines, process trees across a reaped child, the
per-case differences, the ours/baseline ratio and where the counters come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cost import (
    LOAD,
    TEMPORAL,
    CaseCost,
    Reading,
    case_cost,
    cpu_ratio,
    frontend_requests,
    listening_ports,
)
from bench.hop_parts import HopSamples
from bench.proc_cpu import CLOCK_TICKS, ProcStat, parse_stat, tree_cpu_s, tree_ticks
from bench.profile import FunctionShare, summarise
from bench.report import cost_table, hop_parts_table, paired_cpu_ratios, targets
from bench.stats import Latency, RunResult


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int, cut: int, cst: int) -> str:
    # Fields 3..13 are state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt,
    # majflt, cmajflt; then utime, stime, cutime, cstime and the rest.
    return (
        f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 120 0 3 0 "
        f"{utime} {stime} {cut} {cst} 20 0 4 0 5023675 1000 300 18446744073709551615\n"
    )


def test_a_stat_line_is_read_after_the_command_name_even_with_spaces_and_parentheses() -> None:
    line = stat_line(4242, "postgres: io (worker) 1", 19114, 150, 40, 7, 3)

    assert parse_stat(line) == ProcStat(4242, 19114, 150, 40, 7, 3)


def test_a_line_without_a_command_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a /proc"):
        parse_stat("")


def _tree(*stats: ProcStat) -> list[ProcStat]:
    return list(stats)


def test_a_tree_sums_its_live_members_with_what_they_reaped_and_nothing_else() -> None:
    stats = _tree(
        ProcStat(10, 1, 100, 50, 5, 5),  # postmaster
        ProcStat(11, 10, 20, 10, 0, 0),  # a backend
        ProcStat(12, 11, 4, 1, 0, 0),  # a child of a backend
        ProcStat(99, 1, 1000, 1000, 0, 0),  # someone else's process
    )

    assert tree_ticks(10, stats) == 160 + 30 + 5


def test_a_backend_that_exits_in_the_window_is_counted_once_through_its_reaper() -> None:
    before = _tree(ProcStat(10, 1, 100, 50, 0, 0), ProcStat(11, 10, 20, 10, 0, 0))
    # The backend used 12 more ticks, exited, and the postmaster reaped it: its 42 ticks moved
    # into the postmaster's cutime/cstime. A second backend came and went inside the window.
    after = _tree(ProcStat(10, 1, 103, 51, 30 + 9, 12 + 6))

    assert tree_ticks(10, after) - tree_ticks(10, before) == 4 + 12 + 15


def test_a_tree_whose_root_is_gone_is_refused() -> None:
    with pytest.raises(ProcessLookupError):
        tree_ticks(10, _tree(ProcStat(11, 10, 1, 1, 0, 0)))


def test_tree_cpu_is_read_from_a_proc_directory(tmp_path: Path) -> None:
    for pid, ppid, utime in ((10, 1, 2 * CLOCK_TICKS), (11, 10, CLOCK_TICKS), (12, 1, 50)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(stat_line(pid, "p", ppid, utime, 0, 0, 0))
    (tmp_path / "self").mkdir()  # not a pid: skipped

    assert tree_cpu_s(10, tmp_path) == pytest.approx(3.0)


def reading(at: float, cpu: dict[str, float], rpcs: dict[str, float], xacts: int) -> Reading:
    return Reading(at=at, cpu_s=cpu, rpcs=rpcs, xacts=xacts)


def test_case_cost_divides_each_difference_by_the_cases_completed() -> None:
    before = reading(10.0, {TEMPORAL: 5.0, LOAD: 1.0}, {"StartWorkflowExecution": 7.0}, 100)
    after = reading(
        30.0,
        {TEMPORAL: 9.0, LOAD: 2.0},
        {"StartWorkflowExecution": 27.0, "SignalWorkflowExecution": 40.0},
        420,
    )

    cost = case_cost(before, after, cases=20)

    assert cost.window_s == 20.0
    assert cost.cpu_s == {TEMPORAL: 4.0, LOAD: 1.0}
    assert cost.cpu_s_per_case == {TEMPORAL: 0.2, LOAD: 0.05}
    assert cost.rpcs_per_case_by_operation == {
        "SignalWorkflowExecution": 2.0,
        "StartWorkflowExecution": 1.0,
    }
    assert cost.rpcs_per_case == 3.0
    assert cost.xacts_per_case == 16.0


def test_no_completed_case_and_no_metrics_give_no_per_case_figures() -> None:
    before = Reading(0.0, {TEMPORAL: 1.0}, None, None)
    after = Reading(1.0, {TEMPORAL: 2.0}, None, None)

    cost = case_cost(before, after, cases=0)

    assert cost.cpu_s == {TEMPORAL: 1.0}
    assert cost.cpu_s_per_case == {}
    assert cost.rpcs_per_case is None
    assert cost.xacts_per_case is None


def cost_of(cases: int, per_case: dict[str, float]) -> CaseCost:
    return CaseCost(
        cases=cases,
        window_s=1.0,
        cpu_s={g: s * cases for g, s in per_case.items()},
        cpu_s_per_case=per_case,
        rpcs_per_case=12.0,
        xacts_per_case=30.0,
    )


OURS = cost_of(100, {TEMPORAL: 0.1, "kafka": 0.02, "node 350000": 0.1, LOAD: 0.03})
# The idle nodes and Kafka beside the baseline are shown but not charged to it.
BASE = cost_of(100, {TEMPORAL: 0.08, "kafka": 0.01, "node 350000": 0.01, LOAD: 0.02})


def test_the_ratio_charges_ours_every_process_and_the_baseline_only_its_own() -> None:
    assert cpu_ratio(OURS, BASE) == pytest.approx(0.25 / 0.10)


def test_no_ratio_when_the_baseline_completed_nothing() -> None:
    assert cpu_ratio(OURS, cost_of(0, {TEMPORAL: 0.0, LOAD: 0.0})) is None


def run(label: str, rate: float | None, cost: CaseCost) -> RunResult:
    return RunResult(label, rate, 100, 100, 10.0, cost=cost)


def test_the_ratio_is_printed_beside_the_other_targets_and_per_rate_in_the_cost_table() -> None:
    runs = [
        run("tongban", None, OURS),
        run("baseline", None, BASE),
        run("tongban", 5.0, OURS),
        run("baseline", 5.0, cost_of(100, {TEMPORAL: 0.1, LOAD: 0.1})),
    ]

    printed = targets(runs[0], runs[1], None)
    table = cost_table(runs)

    assert "cpu per case ours/baseline: 2.50 (target ≤ 1.25) MISSED" in printed
    assert [round(r, 2) for _, r in paired_cpu_ratios(runs)] == [2.5, 1.25]
    assert "cpu per case ours/baseline at 5.0/s: 1.25" in table
    total = next(line for line in table.splitlines() if line.startswith("total (its processes)"))
    assert total.split()[3:] == ["0.250", "0.100", "0.250", "0.200"]


def sample(namespace: str, operation: str, service: str, value: int) -> str:
    labels = f'namespace="{namespace}",operation="{operation}",service_name="{service}"'
    return f"service_requests{{{labels}}} {value}"


METRICS = "\n".join(
    [
        "# HELP service_requests service_requests counter",
        "# TYPE service_requests counter",
        sample("region_350000", "PollWorkflowTaskQueue", "frontend", 12),
        sample("region_440000", "PollWorkflowTaskQueue", "frontend", 8),
        sample("region_440000", "PollWorkflowTaskQueue", "matching", 8),
        sample("region_350000", "SignalWithStartWorkflowExecution", "frontend", 3),
        sample("region_110000", "SignalWithStartWorkflowExecution", "frontend", 5),
        sample("default", "DescribeNamespace", "frontend", 4),
        'service_request_errors{namespace="region-350000",service_name="frontend"} 1',
    ]
)


def test_frontend_requests_count_the_region_namespaces_by_operation() -> None:
    # The server writes `region-350000` as `region_350000`; either spelling is asked for.
    assert frontend_requests(METRICS, ["region-350000", "region-440000"]) == {
        "PollWorkflowTaskQueue": 20.0,
        "SignalWithStartWorkflowExecution": 3.0,
    }


def tcp_row(local: str, remote: str, state: str, inode: str) -> str:
    return (
        f"   0: {local} {remote} {state} 00000000:00000000 00:00000000 00000000  0  0 {inode} 2 0"
    )


TCP = "\n".join(
    [
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid",
        tcp_row("0100007F:1C41", "00000000:0000", "0A", "4026932"),
        tcp_row("0100007F:9B03", "00000000:0000", "0A", "4026925"),
        tcp_row("0100007F:9B04", "0100007F:1C41", "01", "4026926"),  # a connection
        tcp_row("00000000:07E8", "00000000:0000", "0A", "1649"),  # another process's
    ]
)


def test_listening_ports_are_those_of_the_process_sockets_in_listen_state() -> None:
    assert listening_ports([TCP], {"4026932", "4026925", "4026926"}) == [0x1C41, 0x9B03]


def test_a_profile_summary_shares_samples_by_function_package_task_and_own_code() -> None:
    loop = (
        "<module> (regions/cli.py:1);node_run (regions/cli.py:107);run (asyncio/runners.py:160);"
        "Handle._run (asyncio/events.py:78)"
    )
    pool = (
        "_worker (concurrent/futures/thread.py:81);_WorkItem.run (concurrent/futures/thread.py:58)"
    )
    collapsed = [
        f"{loop};InboxBridge.run (events/bridge.py:40);verify (events/signing.py:40) 30",
        f"{pool};render_pdf (documents/render.py:9);draw (reportlab/graphics/qr.py:7) 15",
        f"{pool};render_pdf (documents/render.py:9) 5",
        f"{loop[: loop.index(';Handle')]};EpollSelector.select (selectors.py:468) 50",
        "garbage",
    ]

    summary = summarise(collapsed, top=3)

    def pairs(shares: list[FunctionShare]) -> list[tuple[str, float]]:
        return [(s.function, s.percent) for s in shares]

    assert summary.samples == 100
    assert pairs(summary.self_time) == [
        ("EpollSelector.select (selectors.py)", 50.0),
        ("verify (signing.py)", 30.0),
        ("draw (qr.py)", 15.0),
    ]
    assert pairs(summary.self_by_package) == [
        ("selectors", 50.0),
        ("events", 30.0),
        ("reportlab", 15.0),
    ]
    assert pairs(summary.by_task) == [
        ("EpollSelector.select (selectors.py)", 50.0),
        ("InboxBridge.run (bridge.py)", 30.0),
        ("render_pdf (render.py)", 20.0),
    ]
    # The node's command line is on every loop stack and is left out of its own code.
    assert pairs(summary.project_inclusive) == [
        ("InboxBridge.run (bridge.py)", 30.0),
        ("verify (signing.py)", 30.0),
        ("render_pdf (render.py)", 20.0),
    ]


def test_an_empty_profile_has_no_shares() -> None:
    assert summarise(["", "garbage"]).samples == 0


def test_the_hop_parts_are_printed_for_the_runs_that_have_them() -> None:
    parts = {
        "b_step_to_relay": Latency(80.4, 95.0, 108.2, 100),
        "relay_to_a_stored": Latency(11.6, 14.3, 15.1, 100),
        "a_stored_to_delivered": Latency(92.3, 122.2, 138.3, 100),
        "b_step_to_a_delivered": Latency(186.2, 231.8, 241.7, 100),
    }
    ours = RunResult("tongban", 2.0, 100, 100, 50.0, hop_parts=parts, hop_polls_per_step=1.0)
    base = RunResult("baseline", 2.0, 100, 100, 50.0)
    lines = hop_parts_table([ours, base]).splitlines()
    assert len(lines) == 2  # the heading and tongban's row: the baseline has no hop parts
    figures = ["80/95/108", "12/14/15", "92/122/138", "186/232/242", "1.00"]
    assert lines[1].split() == ["tongban", "2.0/s", *figures]
    assert hop_parts_table([base]) == "(no hop parts)"


def test_hop_samples_of_several_pairs_add_up_and_none_give_no_summary() -> None:
    assert HopSamples().summary() is None
    samples = HopSamples()
    for polls, seconds in ((1, 0.1), (3, 0.3)):
        for part in samples.parts:
            samples.parts[part].append(seconds)
        samples.polls.append(polls)
    summary = samples.summary()
    assert summary is not None
    assert summary.polls_per_step == 2.0
    assert summary.parts["relay_to_a_stored"].samples == 2
    assert summary.parts["relay_to_a_stored"].p99_ms > summary.parts["relay_to_a_stored"].p50_ms
