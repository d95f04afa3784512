-- Parked outbox records: the broker (or the producer) refused the record as too large, which
-- no retry can change. The relay sets these instead of retrying, so one record never holds up
-- the rest of the region's outbox; operators list them with `tongban outbox parked`.

ALTER TABLE outbox
    ADD COLUMN parked_at   timestamptz,
    ADD COLUMN park_reason text,  -- a code: record_too_large
    ADD COLUMN park_detail text;  -- what refused it and the sizes; never payload content

-- The relay's work queue leaves parked rows out.
DROP INDEX outbox_unsent;
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON outbox (parked_at) WHERE parked_at IS NOT NULL;
