-- The 代收 settlement ledger (issue 17 item 3, decision 0030): what an accepting region owes a
-- processing region for fees it collected on the processing region's items. Booked from the
-- exchanged events in the transaction that appends each one to the message log
-- (events/stores/settlement.py), on both sides of the pair: `collected` (+fee) from the
-- `forwarded` event, `refunded` (-fee) from the event that ends the case without approval
-- (`decided` denied, `not-accepted`, `cancelled`). One entry per case and kind: a decision
-- sent again to answer a withdrawal or recall books nothing twice.
CREATE TABLE settlement_ledger (
    id                 bigserial PRIMARY KEY,
    origin_region      text NOT NULL CHECK (origin_region ~ '^\d{6}$'),
    processing_region  text NOT NULL CHECK (processing_region ~ '^\d{6}$'),
    case_no            text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('collected', 'refunded')),
    amount_fen         bigint NOT NULL,
    event_id           text NOT NULL,
    event_type         text NOT NULL,
    event_time         timestamptz NOT NULL,
    -- The Beijing (UTC+8, no daylight saving) calendar day of the event's time.
    business_day       date NOT NULL,
    booked_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_no, kind),
    CHECK ((kind = 'collected') = (amount_fen > 0)),
    CHECK (kind = 'collected' OR amount_fen < 0),
    CHECK (business_day = ((event_time AT TIME ZONE 'UTC') + interval '8 hours')::date)
);
CREATE INDEX settlement_ledger_day ON settlement_ledger (origin_region, processing_region,
    business_day);

-- Money records: appended, never changed (a correction would be an entry of its own).
CREATE FUNCTION settlement_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'settlement_ledger is append-only';
END $$;
CREATE TRIGGER settlement_ledger_no_update BEFORE UPDATE OR DELETE ON settlement_ledger
    FOR EACH ROW EXECUTE FUNCTION settlement_ledger_append_only();
