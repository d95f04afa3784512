-- One region's records: its cases, the transactional outbox, the inbox, quarantine and the
-- hash-chained message log. Each region has its own database; nothing here is shared.

CREATE TABLE cases (
    case_no           text PRIMARY KEY,
    role              text NOT NULL CHECK (role IN ('origin', 'processing')),
    item_code         text NOT NULL,
    item_version      integer NOT NULL,
    origin_region     text NOT NULL,
    processing_region text NOT NULL,
    status            text NOT NULL,
    -- Personal data stays sealed at rest too: a SealedBox (JSON) for this region's own key.
    applicant_sealed  jsonb NOT NULL,
    materials         jsonb NOT NULL DEFAULT '[]',
    fee_fen           integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_status ON cases (status, updated_at);

-- Transactional outbox: written in the same transaction as the case change it announces.
CREATE TABLE outbox (
    seq               bigserial UNIQUE,
    event_id          text PRIMARY KEY,
    case_no           text NOT NULL,
    event_type        text NOT NULL,
    recipient_region  text NOT NULL,
    topic             text NOT NULL,
    envelope          bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;

-- Inbox: each verified event once (unique id), committed before the Kafka offset.
CREATE TABLE inbox (
    event_id          text PRIMARY KEY,
    case_no           text NOT NULL,
    event_type        text NOT NULL,
    sender_region     text NOT NULL,
    envelope          bytea NOT NULL,
    topic             text NOT NULL,
    kafka_partition   integer NOT NULL,
    kafka_offset      bigint NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    delivery_note     text
);
CREATE INDEX inbox_undelivered ON inbox (received_at) WHERE delivered_at IS NULL;

CREATE TABLE inbox_duplicates (
    event_id          text PRIMARY KEY REFERENCES inbox (event_id),
    count             bigint NOT NULL DEFAULT 0,
    last_seen_at      timestamptz NOT NULL DEFAULT now()
);

-- Records that failed parsing or verification: never applied, never dropped.
CREATE TABLE quarantine (
    id                bigserial PRIMARY KEY,
    reason            text NOT NULL,
    detail            text NOT NULL,
    raw               bytea NOT NULL,
    headers           jsonb NOT NULL DEFAULT '[]',
    topic             text NOT NULL,
    kafka_partition   integer NOT NULL,
    kafka_offset      bigint NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    redriven_at       timestamptz,
    UNIQUE (topic, kafka_partition, kafka_offset)
);

-- Append-only, hash-chained log of every envelope sent or accepted (责任追溯).
CREATE TABLE message_log (
    seq               bigserial PRIMARY KEY,
    direction         text NOT NULL CHECK (direction IN ('sent', 'accepted')),
    event_id          text NOT NULL,
    envelope          bytea NOT NULL,
    logged_at         timestamptz NOT NULL DEFAULT now(),
    prev_hash         bytea NOT NULL,
    hash              bytea NOT NULL,
    UNIQUE (direction, event_id)
);

CREATE FUNCTION message_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'message_log is append-only';
END $$;
CREATE TRIGGER message_log_no_update BEFORE UPDATE OR DELETE ON message_log
    FOR EACH ROW EXECUTE FUNCTION message_log_append_only();
