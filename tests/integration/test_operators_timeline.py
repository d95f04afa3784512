"""Operators' view of a case on a real province pair: the stitched timeline of a closed and
of a compensated case, the swimlane page in headless Chromium, and one trace across regions.

Set TONGBAN_SAVE_SCREENSHOT=1 to refresh docs/img/case-swimlane.png from this run."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from deploy.stack.settings import REPO_ROOT, StackEndpoints, StackSettings
from operators.endpoints import local_endpoints
from operators.html import swimlane_html
from operators.load import load_timeline
from operators.model import CaseTimeline
from regions.local import ensure_local_keys, local_node_settings
from tests.integration import chromium
from tests.integration.lifecycle import (
    POLICY_ENV,
    T_DENY,
    T_FEE,
    a_closed,
    b_closed,
    material,
    statuses,
    submit,
)
from tests.integration.pair import ProvincePair, start_pair
from workflows.models import CaseProgress

pytestmark = pytest.mark.integration

A, B = "350000", "440000"
SCREENSHOT = REPO_ROOT / "docs" / "img" / "case-swimlane.png"


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spans")


@pytest.fixture(scope="module")
async def pair(
    stack: StackEndpoints, stack_settings: StackSettings, trace_dir: Path
) -> AsyncIterator[ProvincePair]:
    ensure_local_keys(stack_settings, (A, B))
    env = {**POLICY_ENV, "TONGBAN_NODE_TRACE_FILE": str(trace_dir / "spans-{region}.jsonl")}
    async with start_pair(stack, stack_settings, A, B, env=env) as started:
        yield started


@pytest.fixture(scope="module")
async def closed_case(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings
) -> tuple[str, str, CaseProgress, CaseProgress]:
    """An approved case submitted inside a window request's root span: (case, trace id, A, B)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    origin = local_node_settings(A, stack_settings, stack)
    with provider.get_tracer("test.window").start_as_current_span("POST /cases") as root:
        case_no = await submit(pair, origin, T_FEE, fee_fen=2500, materials=(material("身份证"),))
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    return case_no, f"{root.get_span_context().trace_id:032x}", a, b


def _lane(timeline: CaseTimeline, lane: str) -> list[str]:
    """Statuses of the lane's workflow steps, as `statuses()` reads a progress."""
    seen: list[str] = []
    for entry in timeline.entries:
        in_lane = entry.lane == lane and entry.kind in ("step", "note") and entry.status
        if in_lane and (not seen or seen[-1] != entry.status):
            seen.append(entry.status)
    return seen


def _position(timeline: CaseTimeline, lane: str, kind: str, event_type: str) -> int:
    return next(
        i
        for i, e in enumerate(timeline.entries)
        if e.lane == lane and e.kind == kind and (e.event_type or "").endswith(event_type)
    )


async def test_closed_case_timeline_has_every_step_of_both_regions_in_order(
    closed_case: tuple[str, str, CaseProgress, CaseProgress], stack_settings: StackSettings
) -> None:
    case_no, trace_id, a, b = closed_case
    timeline = await load_timeline(case_no, local_endpoints(stack_settings))
    assert (timeline.origin_region, timeline.processing_region) == (A, B)
    assert timeline.closed
    assert _lane(timeline, "A") == statuses(a)
    assert _lane(timeline, "B") == statuses(b)
    a_steps = [e for e in timeline.entries if e.lane == "A" and e.kind in ("step", "note")]
    assert [(e.status, e.detail) for e in a_steps] == [(s.status, s.detail) for s in a.steps]
    # The events cross in order: sent by one region before the other accepted them.
    for event, sender, receiver in (("forwarded", "A", "B"), ("decided", "B", "A")):
        assert _position(timeline, sender, "sent", event) < _position(
            timeline, receiver, "accepted", event
        )
    envelopes = [e for e in timeline.entries if e.kind in ("sent", "accepted")]
    assert envelopes
    assert all(e.signature == "valid" for e in envelopes)
    # The formal review and B's acceptance and decision were the automatic policy's.
    actors = {(e.lane, e.status): e.actor for e in timeline.entries if e.kind == "step"}
    assert actors[("A", "formal-review-passed")].kind == "policy"  # type: ignore[union-attr]
    assert actors[("B", "approved")].kind == "policy"  # type: ignore[union-attr]
    assert actors[("B", "received")].kind == "region"  # type: ignore[union-attr]
    assert trace_id in timeline.trace_ids


async def test_compensated_case_timeline_shows_each_compensation_step(
    pair: ProvincePair, stack: StackEndpoints, stack_settings: StackSettings
) -> None:
    case_no = await submit(pair, local_node_settings(A, stack_settings, stack), T_DENY, fee_fen=500)
    a, b = await a_closed(pair, case_no), await b_closed(pair, case_no)
    timeline = await load_timeline(case_no, local_endpoints(stack_settings))
    assert _lane(timeline, "A") == statuses(a)
    assert _lane(timeline, "B") == statuses(b)
    assert _lane(timeline, "A")[-2:] == ["compensating", "closed-rejected"]
    compensation = [e for e in timeline.entries if e.compensation]
    assert [e.detail.split(":")[0] for e in compensation] == [
        "refund-fee",
        "void-receipt",
        "return-materials",
    ]
    assert compensation[0].amount_fen == 500
    assert all(e.lane == "A" for e in compensation)


async def test_swimlane_page_renders_in_headless_chromium(
    closed_case: tuple[str, str, CaseProgress, CaseProgress],
    stack_settings: StackSettings,
    tmp_path: Path,
) -> None:
    if chromium.chromium() is None:
        pytest.fail("chromium missing: run deploy/local/bootstrap.sh as root")
    timeline = await load_timeline(closed_case[0], local_endpoints(stack_settings))
    page = tmp_path / "case.html"
    page.write_text(swimlane_html(timeline), encoding="utf-8")
    loaded = chromium.load(page, tmp_path / "profile")
    assert loaded.console_errors == []
    assert 'data-rendered="ok"' in loaded.dom  # the inline script ran to its end
    assert loaded.dom.count('class="flow') >= 4  # forwarded, accepted, decided + receipts
    shot = tmp_path / "case-swimlane.png"
    height = 260 + 30 * len(timeline.entries)
    taken = chromium.screenshot(page, tmp_path / "profile", shot, 1260, min(height, 1600))
    assert taken.console_errors == []
    assert shot.stat().st_size > 10_000
    if os.environ.get("TONGBAN_SAVE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def _spans(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_one_trace_spans_the_window_both_regions_and_the_way_back(
    closed_case: tuple[str, str, CaseProgress, CaseProgress], trace_dir: Path
) -> None:
    trace_id = closed_case[1]
    spans = {region: _spans(trace_dir / f"spans-{region}.jsonl") for region in (A, B)}
    names = {
        region: {str(s["name"]) for s in found if s["trace_id"] == trace_id}
        for region, found in spans.items()
    }
    # A: its workflow, the activity that wrote the forwarded event, the relay's producer span,
    # and on the way back its bridge's consumer span and the dispatch of B's decision.
    assert "RunWorkflow:IntakeWorkflow" in names[A]
    assert "RunActivity:forward_case" in names[A]
    assert f"tongban.inbox.{B} publish" in names[A]
    assert f"tongban.inbox.{A} receive" in names[A]
    assert "dispatch cn.tongban.case.decided" in names[A]
    # B: consumer, signal-with-start inside the dispatch span, its workflow, its sends back.
    assert f"tongban.inbox.{B} receive" in names[B]
    assert "dispatch cn.tongban.case.forwarded" in names[B]
    assert "RunWorkflow:ProcessingWorkflow" in names[B]
    assert f"tongban.inbox.{A} publish" in names[B]
