-- Cross-anchoring: the heads of peer regions' message logs, as their signed receipts state
-- them. A receipt carries the seq and hash of its sender's log head; the region that accepts
-- the receipt keeps the pair here, so the sender cannot later delete its newest rows unseen
-- (`tongban audit verify --region R --peers`). One row per distinct head a peer was told of:
-- two hashes for one seq of one region are both kept, since that is itself evidence.

CREATE TABLE log_anchors (
    region            text NOT NULL,          -- whose log the head belongs to
    seq               bigint NOT NULL,
    hash              bytea NOT NULL,
    receipt_event_id  text NOT NULL,          -- the first receipt that stated this head
    received_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region, seq, hash)
);

-- Evidence about another region's history: kept like the message log itself.
CREATE FUNCTION log_anchors_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'log_anchors is append-only';
END $$;
CREATE TRIGGER log_anchors_no_update BEFORE UPDATE OR DELETE ON log_anchors
    FOR EACH ROW EXECUTE FUNCTION log_anchors_append_only();
