"""Memory by part (issue 22 item 3): the node's growth line, read back by the idle bench."""

from __future__ import annotations

from pathlib import Path

import pytest

from regions.node_memory import MemoryByPart, growth_line, parse_growth_line, vm_rss_kib

STATUS = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  160000 kB\nVmRSS:\t  153600 kB\n"


def test_vm_rss_is_read_from_its_own_line_not_the_high_water_mark() -> None:
    assert vm_rss_kib(STATUS) == 153600


def test_a_status_text_without_vm_rss_is_refused() -> None:
    with pytest.raises(ValueError, match="VmRSS"):
        vm_rss_kib("Name:\tpython\n")


def test_each_part_is_its_growth_over_the_mark_before_it() -> None:
    line = growth_line(
        "350000", 100 * 1024, [("connections", 110 * 1024), ("worker built", 108 * 1024)]
    )

    assert line == (
        "node 350000 memory by part: before parts 100.0 MB, connections +10.0 MB,"
        " worker built -2.0 MB, total 108.0 MB"
    )


def test_the_line_reads_back_from_a_log_line_with_its_prefix() -> None:
    line = growth_line("440000", 2048, [("relay producer started", 3072)])

    parsed = parse_growth_line(f"2026-11-30 23:00:00,001 INFO regions.node_memory: {line}")

    assert parsed == ("440000", {"before parts": 2.0, "relay producer started": 1.0, "total": 3.0})


def test_other_log_lines_are_not_read_as_memory() -> None:
    assert parse_growth_line("node 350000 running") is None


def test_marks_read_the_status_file_at_each_step(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("VmRSS:\t 1024 kB\n")
    memory = MemoryByPart("350000", status=status)
    status.write_text("VmRSS:\t 4096 kB\n")
    memory.mark("worker built")

    assert memory.report() == (
        "node 350000 memory by part: before parts 1.0 MB, worker built +3.0 MB, total 4.0 MB"
    )
