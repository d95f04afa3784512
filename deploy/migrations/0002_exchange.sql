-- Reception awareness (AS4): every business event is answered by a signed receipt; the
-- sender resends what stays unreceipted, with backoff, and gives up loudly.

ALTER TABLE outbox
    ADD COLUMN attempts             integer NOT NULL DEFAULT 0,
    -- When the relay may resend an unreceipted business event; NULL for receipts, which are
    -- never receipted, and for rows sent before this migration (never resent blindly).
    ADD COLUMN next_attempt_at      timestamptz,
    ADD COLUMN receipted_at         timestamptz,
    ADD COLUMN receipt_event_id     text,
    -- Retries ran out: the alarm's state. The case workflow is told separately, because a
    -- Temporal signal cannot join this transaction; failure_signalled_at records that.
    ADD COLUMN failed_at            timestamptz,
    ADD COLUMN failure_reason       text,
    ADD COLUMN failure_signalled_at timestamptz,
    ADD COLUMN failure_note         text;

CREATE INDEX outbox_awaiting_receipt ON outbox (next_attempt_at)
    WHERE receipted_at IS NULL AND failed_at IS NULL AND sent_at IS NOT NULL
      AND next_attempt_at IS NOT NULL;
CREATE INDEX outbox_failure_unsignalled ON outbox (failed_at)
    WHERE failed_at IS NOT NULL AND failure_signalled_at IS NULL;

-- Which receipt answers which received event, so a duplicate arrival re-arms that receipt.
ALTER TABLE inbox ADD COLUMN receipt_event_id text;

ALTER TABLE quarantine ADD COLUMN redrive_note text;
