"""Several regions in one process (decision 0047): each region's run is supervised side by
side; one that fails or ends stops the others gracefully and is raised; logs, spans and gauges
name their region."""

from __future__ import annotations

import asyncio
import logging

import pytest
from opentelemetry.metrics import CallbackOptions
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from regions.gauges import RegionGauges, Snapshot, _Board
from regions.node_host import (
    RegionFailed,
    RegionRun,
    check_ports,
    check_regions,
    supervise_regions,
)
from regions.node_lock import NodeCannotStart
from regions.node_memory import MemoryByPart
from regions.region_context import CURRENT_REGION, NO_REGION, RegionLogTag
from regions.telemetry import RegionSpanTag, host_config, host_label


class FakeRegion:
    """A region's run: records what it saw, runs until its stop, or fails when told."""

    def __init__(self, fail_after: float | None = None, end_after: float | None = None) -> None:
        self.fail_after = fail_after
        self.end_after = end_after
        self.seen_region = ""
        self.stopped_gracefully = False

    async def __call__(self, stop: asyncio.Event) -> None:
        self.seen_region = CURRENT_REGION.get()
        child = asyncio.create_task(asyncio.sleep(0, result=CURRENT_REGION.get()))
        assert await child == self.seen_region  # tasks it starts inherit its region
        if self.fail_after is not None:
            await asyncio.sleep(self.fail_after)
            raise NodeCannotStart(f"window API of {self.seen_region} stopped serving")
        if self.end_after is not None:
            await asyncio.sleep(self.end_after)
            return
        await stop.wait()
        self.stopped_gracefully = True


async def test_every_region_runs_in_its_own_context_until_stop() -> None:
    regions = {"110000": FakeRegion(), "120000": FakeRegion(), "130000": FakeRegion()}
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    await supervise_regions(dict[str, RegionRun](regions), stop)
    assert {code: r.seen_region for code, r in regions.items()} == {c: c for c in regions}
    assert all(r.stopped_gracefully for r in regions.values())
    assert CURRENT_REGION.get() == NO_REGION  # the host's own context is untouched


async def test_a_failing_region_stops_the_others_and_is_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b, c = FakeRegion(), FakeRegion(fail_after=0.01), FakeRegion()
    with pytest.raises(NodeCannotStart, match="window API of 120000"):
        await supervise_regions({"110000": a, "120000": b, "130000": c}, asyncio.Event())
    assert a.stopped_gracefully
    assert c.stopped_gracefully
    assert "region 120000 stopped on NodeCannotStart" in caplog.text
    assert "stopping the other regions of this process (110000, 130000)" in caplog.text


async def test_a_region_that_ends_on_its_own_stops_the_process() -> None:
    a, b = FakeRegion(), FakeRegion(end_after=0.01)
    with pytest.raises(RegionFailed, match="region 120000 stopped on its own"):
        await supervise_regions({"110000": a, "120000": b}, asyncio.Event())
    assert a.stopped_gracefully


async def test_a_region_failing_while_the_others_stop_is_logged_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails_on_stop(stop: asyncio.Event) -> None:
        await stop.wait()
        raise RuntimeError("consumer did not leave its group")

    with pytest.raises(NodeCannotStart):
        await supervise_regions(
            {"110000": fails_on_stop, "120000": FakeRegion(fail_after=0.01)}, asyncio.Event()
        )
    assert "region 110000 failed while stopping" in caplog.text


def test_regions_named_twice_or_none_are_refused() -> None:
    with pytest.raises(NodeCannotStart, match="no region"):
        check_regions([])
    with pytest.raises(NodeCannotStart, match="region 110000 named more than once"):
        check_regions(["110000", "120000", "110000"])


def test_two_regions_on_one_api_address_are_refused() -> None:
    check_ports({"110000": ("127.0.0.1", 8011), "120000": ("127.0.0.1", 8012)})
    check_ports({"110000": ("127.0.0.1", 8011), "120000": ("127.0.0.2", 8011)})
    with pytest.raises(NodeCannotStart, match=r"window API of 120000: port 8011 .* 110000's"):
        check_ports({"110000": ("127.0.0.1", 8011), "120000": ("127.0.0.1", 8011)})


def test_log_records_carry_the_region_of_the_context() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    RegionLogTag().filter(record)
    assert getattr(record, "region", None) == NO_REGION
    token = CURRENT_REGION.set("440000")
    try:
        RegionLogTag().filter(record)
    finally:
        CURRENT_REGION.reset(token)
    assert getattr(record, "region", None) == "440000"


def test_spans_started_in_a_region_carry_it() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(RegionSpanTag())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("host"):
        pass
    token = CURRENT_REGION.set("350000")
    try:
        with tracer.start_as_current_span("region"):
            pass
    finally:
        CURRENT_REGION.reset(token)
    tags = {
        s.name: (s.attributes or {}).get("tongban.region") for s in exporter.get_finished_spans()
    }
    assert tags == {"host": None, "region": "350000"}


def test_the_host_names_its_regions_shortly() -> None:
    assert host_label(["110000", "120000"]) == "110000+120000"
    assert host_label([f"{n}0000" for n in range(11, 45)]) == "110000+33"
    config = host_config(["110000", "120000"], None, None, 30.0)
    assert (config.service_name, config.regions) == ("tongban-node-host", ("110000", "120000"))


def test_every_region_s_gauges_are_reported_not_only_the_first() -> None:
    # The SDK keeps the first instrument of a name and drops later callbacks: one board for
    # the process reports every live region.
    board = _Board()
    a = RegionGauges(pool=None, region="110000", board=board)  # type: ignore[arg-type]
    b = RegionGauges(pool=None, region="120000", board=board)  # type: ignore[arg-type]
    a.snapshot = Snapshot(cases={("origin", "closed"): 2}, unsent=1)
    b.snapshot = Snapshot(cases={("processing", "closed"): 3}, unsent=4)
    options = CallbackOptions()
    unsent = [(o.value, o.attributes) for o in board._unsent(options)]
    assert unsent == [(1, {"region": "110000"}), (4, {"region": "120000"})]
    cases = {(o.attributes or {})["region"]: o.value for o in board._cases(options)}
    assert cases == {"110000": 2, "120000": 3}
    board.regions.discard(b)  # a region that stopped reports nothing more
    assert [o.attributes for o in board._oldest(options)] == [{"region": "110000"}]


def test_memory_by_part_can_be_off() -> None:
    memory = MemoryByPart("110000", enabled=False)
    memory.mark("connections")
    assert (memory.marks, memory.report()) == ([], "")
