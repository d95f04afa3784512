"""OpenTelemetry for a regional node and its callers: providers, exporters, the window's root
span and the Temporal tracing interceptor.

Nothing is exported unless configured: an OTLP endpoint (traces and metrics, over HTTP), or a
JSONL file of finished spans (tests, and operators without a collector). Configuring installs
global providers once per process, the composition root's job (the node, a test session).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span, SpanKind
from temporalio.contrib.opentelemetry import TracingInterceptor

from regions.region_context import CURRENT_REGION, NO_REGION

_window_tracer = trace.get_tracer("tongban.window")


class JsonlSpanExporter(SpanExporter):
    """One JSON object per finished span, appended to a file (several processes may share a
    directory, never a file: each node names its own)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(span_record(span), ensure_ascii=False) for span in spans]
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def span_record(span: ReadableSpan) -> dict[str, object]:
    context = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "parent_id": f"{parent.span_id:016x}" if parent else None,
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "service": span.resource.attributes.get("service.name"),
        "attributes": {key: _plain(value) for key, value in (span.attributes or {}).items()},
    }


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class TelemetryConfig:
    service_name: str
    otlp_endpoint: str | None = None  # e.g. http://collector:4318 (OTLP over HTTP)
    trace_file: Path | None = None
    metric_interval_s: float = 30.0
    # Regions sharing the process (decision 0047): a resource attribute, and every span started
    # in a region's tasks carries `tongban.region` (RegionSpanTag). Empty: a node of one region.
    regions: tuple[str, ...] = ()


class RegionSpanTag(SpanProcessor):
    """Tags each span started inside a region's tasks with that region (`tongban.region`):
    where several regions share a process, the service name no longer says which one."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        region = CURRENT_REGION.get()
        if region != NO_REGION:
            span.set_attribute("tongban.region", region)


@dataclass(frozen=True)
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def configure(config: TelemetryConfig, extra_readers: Sequence[MetricReader] = ()) -> Telemetry:
    """Install global tracer and meter providers with the configured exporters."""
    attributes: dict[str, str] = {"service.name": config.service_name}
    if config.regions:
        attributes["tongban.regions"] = ",".join(config.regions)
    resource = Resource.create(attributes)
    tracer_provider = TracerProvider(resource=resource)
    if config.regions:
        tracer_provider.add_span_processor(RegionSpanTag())
    readers: list[MetricReader] = list(extra_readers)
    if config.trace_file is not None:
        # Simple, not batched: a node stopped by SIGTERM must not lose its last spans.
        tracer_provider.add_span_processor(
            SimpleSpanProcessor(JsonlSpanExporter(config.trace_file))
        )
    if config.otlp_endpoint:
        # Imported only when used: the exporter is an optional extra in production images.
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = config.otlp_endpoint.rstrip("/")
        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces"))
        )
        readers.append(
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{base}/v1/metrics"),
                export_interval_millis=config.metric_interval_s * 1000,
            )
        )
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider)


def temporal_interceptors() -> list[TracingInterceptor]:
    """On every Temporal client: starts, signals and Updates carry the caller's trace context,
    and workers built on the client continue it in workflows and activities."""
    return [TracingInterceptor()]


@contextmanager
def window_request_span(operation: str, *, window_id: str | None = None) -> Iterator[Span]:
    """The root span of a window request (the HTTP API's handler, or `submit_case` callers):
    everything the request causes, in both regions, joins this trace."""
    attributes = {"tongban.window.operation": operation}
    if window_id:
        attributes["tongban.window.id"] = window_id
    with _window_tracer.start_as_current_span(
        operation, kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        yield span


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def node_config(
    region: str, otlp_endpoint: str | None, trace_file: Path | None, metric_interval_s: float
) -> TelemetryConfig:
    return TelemetryConfig(
        service_name=f"tongban-node-{region}",
        otlp_endpoint=otlp_endpoint,
        # "{region}" lets nodes started with one environment write separate files.
        trace_file=Path(str(trace_file).replace("{region}", region)) if trace_file else None,
        metric_interval_s=metric_interval_s,
    )


def host_label(regions: Sequence[str]) -> str:
    """A process hosting several regions in a name: `110000+120000`; past three regions the
    first and how many more (`110000+33`), so a file name stays short."""
    if len(regions) <= 3:
        return "+".join(regions)
    return f"{regions[0]}+{len(regions) - 1}"


def host_config(
    regions: Sequence[str],
    otlp_endpoint: str | None,
    trace_file: Path | None,
    metric_interval_s: float,
) -> TelemetryConfig:
    """One process's telemetry for several regions (the providers are global, once per
    process): service `tongban-node-host`, the regions as a resource attribute and on each span."""
    label = host_label(regions)
    return TelemetryConfig(
        service_name="tongban-node-host",
        otlp_endpoint=otlp_endpoint,
        trace_file=Path(str(trace_file).replace("{region}", label)) if trace_file else None,
        metric_interval_s=metric_interval_s,
        regions=tuple(regions),
    )
