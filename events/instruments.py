"""The exchange's OpenTelemetry metrics. Instruments come from the global meter provider, so
they record nothing until a node (or a test) installs one; names are stable for dashboards."""

from __future__ import annotations

from opentelemetry import metrics

_meter = metrics.get_meter("tongban.exchange")

events_sent = _meter.create_counter(
    "tongban.events.sent", unit="{event}", description="Envelopes published by the outbox relay"
)
events_resent = _meter.create_counter(
    "tongban.events.resent",
    unit="{event}",
    description="Publications of an envelope that had been sent before (no receipt in time)",
)
events_received = _meter.create_counter(
    "tongban.events.received",
    unit="{event}",
    description="Verified envelopes stored by the inbox (outcome accepted or duplicate)",
)
events_quarantined = _meter.create_counter(
    "tongban.events.quarantined",
    unit="{record}",
    description="Records that failed verification, by reason and claimed sender",
)
events_undeliverable = _meter.create_counter(
    "tongban.events.undeliverable",
    unit="{event}",
    description="Stored inbox events the case workflow refused (marked, not retried)",
)
outbox_lag = _meter.create_histogram(
    "tongban.outbox.lag",
    unit="s",
    description="Time from the outbox commit to the relay's publication",
)
deadline_warnings = _meter.create_counter(
    "tongban.deadline.warnings", unit="{case}", description="Deadline warnings sent to A"
)
deadline_breaches = _meter.create_counter(
    "tongban.deadline.breaches", unit="{case}", description="Deadline breaches sent to A"
)


def record_published(region: str, event_type: str, attempts_before: int, lag_s: float) -> None:
    attrs = {"region": region, "type": event_type}
    if attempts_before:
        events_resent.add(1, attrs)
        return
    events_sent.add(1, attrs)
    outbox_lag.record(max(lag_s, 0.0), {"region": region})
    if event_type.endswith("deadline-warning"):
        deadline_warnings.add(1, {"region": region})
    elif event_type.endswith("deadline-breached"):
        deadline_breaches.add(1, {"region": region})


events_parked = _meter.create_counter(
    "tongban.outbox.parked",
    unit="{record}",
    description="Outbox records set aside because the producer or broker refused them as too large",
)


def record_parked(region: str, event_type: str, reason: str) -> None:
    events_parked.add(1, {"region": region, "type": event_type, "reason": reason})


# The trust directory (events/credentials.py, events/directory_floor.py).
directory_refused = _meter.create_counter(
    "tongban.directory.refused",
    unit="{file}",
    description="Directory files not put in force (reason: invalid or rollback); the previous"
    " directory stayed in force",
)
directory_expired_refusals = _meter.create_counter(
    "tongban.directory.expired_refusals",
    unit="{record}",
    description="Inbound records refused because the trust directory in force has expired",
)
directory_version = _meter.create_gauge(
    "tongban.directory.version", unit="1", description="Version of the trust directory in force"
)
directory_valid_for = _meter.create_gauge(
    "tongban.directory.valid_for",
    unit="s",
    description="Time left before the trust directory in force expires (negative: expired)",
)
