"""Operators' case filters become safe visibility queries; the exchange's metrics count."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)

from events import instruments
from events.bridge import count_admission
from events.inbox import Admission, Stored
from events.rejections import Rejected, RejectReason
from operators.listing import CaseFilter


def test_filters_combine_into_one_visibility_query() -> None:
    query = CaseFilter(
        status="processing",
        origin="350000",
        processing="440000",
        item="GG-00102-000",
        since=datetime(2026, 11, 1, tzinfo=UTC),
        overdue=True,
        stuck_hours=24,
    ).query()
    assert query == (
        "CaseStatus = 'processing' AND OriginRegion = '350000' AND ProcessingRegion = '440000'"
        " AND ItemCode = 'GG-00102-000' AND StartTime >= '2026-11-01T00:00:00+00:00'"
        " AND Overdue = true AND ExecutionStatus = 'Running' AND CaseNo IS NOT NULL"
    )


def test_a_filter_cannot_inject_query_syntax() -> None:
    with pytest.raises(ValueError, match="not a valid CaseStatus filter"):
        CaseFilter(status="closed' OR CaseNo IS NOT NULL OR 'x").query()


@pytest.fixture(scope="module")
def reader() -> InMemoryMetricReader:
    # The global provider can be set once per process; the instruments bind to it lazily.
    in_memory = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[in_memory]))
    return in_memory


def _sums(reader: InMemoryMetricReader) -> dict[str, float]:
    data = reader.get_metrics_data()
    totals: dict[str, float] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    # Counters have a value; histograms a count of recordings.
                    if isinstance(point, HistogramDataPoint):
                        value: float = point.count
                    elif isinstance(point, NumberDataPoint):
                        value = point.value
                    else:
                        continue
                    totals[metric.name] = totals.get(metric.name, 0) + value
    return totals


def test_first_sends_resends_and_deadline_notices_are_counted_apart(
    reader: InMemoryMetricReader,
) -> None:
    instruments.record_published("350000", "cn.tongban.case.forwarded", 0, 0.05)
    instruments.record_published("350000", "cn.tongban.case.forwarded", 1, 30.0)
    instruments.record_published("440000", "cn.tongban.case.deadline-warning", 0, 0.01)
    instruments.record_published("440000", "cn.tongban.case.deadline-breached", 0, 0.01)
    totals = _sums(reader)
    assert totals["tongban.events.sent"] == 3
    assert totals["tongban.events.resent"] == 1
    assert totals["tongban.deadline.warnings"] == 1
    assert totals["tongban.deadline.breaches"] == 1
    assert totals["tongban.outbox.lag"] == 3  # a resend is not a fresh commit's lag


def _by_attribute(reader: InMemoryMetricReader, name: str, key: str) -> dict[str, float]:
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, float] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in (m for m in scope.metrics if m.name == name):
                for point in metric.data.data_points:
                    assert isinstance(point, NumberDataPoint)
                    label = str((point.attributes or {}).get(key))
                    found[label] = found.get(label, 0) + point.value
    return found


def test_refusals_and_receptions_are_counted_per_sender(reader: InMemoryMetricReader) -> None:
    """A flood from one region shows as that region's count, not as a region-wide total."""
    flood = Rejected(RejectReason.BAD_SIGNATURE, "x", sender="350100")
    for _ in range(5):
        count_admission("440000", Admission(Stored.QUARANTINED, rejected=flood))
    unreadable = Rejected(RejectReason.MALFORMED, "not JSON")
    count_admission("440000", Admission(Stored.QUARANTINED, rejected=unreadable))
    quarantined = _by_attribute(reader, "tongban.events.quarantined", "sender")
    assert quarantined == {"350100": 5, "unknown": 1}
    reasons = _by_attribute(reader, "tongban.events.quarantined", "reason")
    assert reasons == {"bad-signature": 5, "malformed": 1}
