"""How much resident memory a node grows by as each of its parts is built and started
(issue 22 item 3: an idle node's memory reported per part).

Growth, not ownership: a figure is VmRSS after a part minus VmRSS before it, so it holds what
that step allocated and touched, and nothing the interpreter already held. The first figure
is the process before any part: the interpreter with every module `regions.node` imports
(they are all imported when the node's module is). What the parts grow by once running (the
worker polling, the API serving, the loops' first rounds) comes after the last mark and is
not in the line; a benchmark sees it as steady RSS minus the last mark.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

STATUS = Path("/proc/self/status")
_LINE = re.compile(r"node (?P<region>\d{6}) memory by part: (?P<figures>.*)$")
_FIGURE = re.compile(r"(?P<part>[^,+]+?) \+?(?P<mib>-?[\d.]+) MB")
BEFORE_PARTS = "before parts"


def vm_rss_kib(status: str) -> int:
    """VmRSS (kB) from the text of a /proc/<pid>/status file."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError("no VmRSS line in the status text")


def growth_line(region: str, start_kib: int, marks: list[tuple[str, int]]) -> str:
    """`node R memory by part: before parts 95.1 MB, worker +12.0 MB, ..., total 140.2 MB`:
    each part's figure is its RSS growth over the mark before it."""
    figures = [f"{BEFORE_PARTS} {start_kib / 1024:.1f} MB"]
    previous = start_kib
    for part, kib in marks:
        figures.append(f"{part} {(kib - previous) / 1024:+.1f} MB")
        previous = kib
    figures.append(f"total {previous / 1024:.1f} MB")
    return f"node {region} memory by part: " + ", ".join(figures)


def parse_growth_line(line: str) -> tuple[str, dict[str, float]] | None:
    """The region and its figures (MB by part, with `before parts` and `total`) from a log
    line `growth_line` wrote; None for any other line."""
    match = _LINE.search(line)
    if match is None:
        return None
    figures = {m["part"].strip(): float(m["mib"]) for m in _FIGURE.finditer(match["figures"])}
    return match["region"], figures


@dataclass
class MemoryByPart:
    """Marks taken as the node builds and starts its parts; one INFO line at the end."""

    region: str
    status: Path = STATUS
    start_kib: int = 0
    marks: list[tuple[str, int]] = field(default_factory=list)
    # Off where the process's growth is not this region's alone: regions sharing a process
    # (regions/node_host.py) build their parts at the same time, so the host logs one line.
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.enabled:
            self.start_kib = self._rss()

    def _rss(self) -> int:
        return vm_rss_kib(self.status.read_text())

    def mark(self, part: str) -> None:
        """`part` has just been built or started."""
        if self.enabled:
            self.marks.append((part, self._rss()))

    def report(self) -> str:
        if not self.enabled:
            return ""
        line = growth_line(self.region, self.start_kib, self.marks)
        log.info("%s", line)
        return line
