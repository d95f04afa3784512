"""W3C trace context across the exchange: stored with outbox and inbox rows, carried in Kafka
record headers (never in the signed envelope, so signatures are unaffected), and restored as
the parent of the relay's producer span, the bridge's consumer span and the dispatch span."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

_tracer = trace.get_tracer("tongban.exchange")


def current_carrier() -> dict[str, str]:
    """The active span's context as W3C headers (`traceparent`, `tracestate`); empty when
    nothing is being traced."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def current_context_json() -> str | None:
    """What an outbox or inbox row stores: NULL when there is no active trace."""
    carrier = current_carrier()
    return json.dumps(carrier, sort_keys=True) if carrier else None


def context_from_json(stored: str | None) -> Context:
    carrier: Mapping[str, str] = json.loads(stored) if stored else {}
    return propagate.extract(carrier)


def context_from_headers(headers: tuple[tuple[str, bytes], ...]) -> Context:
    """Headers come from anyone who can write to the topic: the W3C propagator validates
    what it reads and ignores the rest, so a garbage header only means no parent span."""
    carrier = {key: value.decode("latin-1") for key, value in headers}
    return propagate.extract(carrier)


def trace_id_of(stored: str | None) -> str | None:
    """The 32-hex trace id of a stored context, for operators to search their trace backend."""
    if not stored:
        return None
    parent = json.loads(stored).get("traceparent", "")
    parts = str(parent).split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


@contextmanager
def producer_span(
    topic: str, event_id: str, event_type: str, stored: str | None
) -> Iterator[list[tuple[str, bytes]]]:
    """The relay's send of one row, a child of the activity that wrote it; yields the Kafka
    headers that carry this span's context to the receiver."""
    with _tracer.start_as_current_span(
        f"{topic} publish",
        context=context_from_json(stored),
        kind=SpanKind.PRODUCER,
        attributes=_attributes(topic, event_id, event_type),
    ):
        yield [(key, value.encode("latin-1")) for key, value in current_carrier().items()]


@contextmanager
def consumer_span(
    topic: str, headers: tuple[tuple[str, bytes], ...], partition: int, offset: int
) -> Iterator[Span]:
    with _tracer.start_as_current_span(
        f"{topic} receive",
        context=context_from_headers(headers),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.destination.partition.id": str(partition),
            "messaging.kafka.offset": offset,
        },
    ) as span:
        yield span


@contextmanager
def dispatch_span(stored: str | None, event_id: str, event_type: str) -> Iterator[Span]:
    """The dispatcher's signal(-with-start), inside the context the bridge stored with the
    inbox row, so the workflow's spans join the sender's trace (also after a sweep)."""
    with _tracer.start_as_current_span(
        f"dispatch {event_type}",
        context=context_from_json(stored),
        kind=SpanKind.INTERNAL,
        attributes={"tongban.event_id": event_id, "tongban.event_type": event_type},
    ) as span:
        yield span


def _attributes(topic: str, event_id: str, event_type: str) -> dict[str, str]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.message.id": event_id,
        "tongban.event_type": event_type,
    }
