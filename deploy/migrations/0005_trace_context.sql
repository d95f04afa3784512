-- W3C trace context (JSON: traceparent, tracestate) of the span that wrote each row: for the
-- outbox, the activity that sent the event, restored by the relay as its producer span's
-- parent; for the inbox, the bridge's consumer span, restored by the dispatcher (also when a
-- sweep delivers the row after a restart). Nullable: rows written untraced, or before this
-- migration, have none. Never part of the signed envelope.

ALTER TABLE outbox ADD COLUMN trace_context text;
ALTER TABLE inbox ADD COLUMN trace_context text;
