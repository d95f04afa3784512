-- 数据多跑路 (issue 20, decision 0041): evidence exchanged between regions.

-- At a requesting region: each evidence request it sent for one of its cases, and where it
-- rests. Personal data stays sealed: the evidence document as it arrived, sealed for this
-- region's own key (bound to the case number); the subject is never stored here.
CREATE TABLE evidence_requests (
    request_id        text PRIMARY KEY,
    case_no           text NOT NULL,
    evidence_type     text NOT NULL,
    material          text NOT NULL,
    item_code         text NOT NULL,
    provider_region   text NOT NULL,
    consent           jsonb NOT NULL,
    event_id          text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'obtained', 'refused', 'timed-out', 'unverified')),
    refusal           text,
    document_sha256   text,
    document_sealed   jsonb,
    requested_at      timestamptz NOT NULL DEFAULT now(),
    answer_by         timestamptz NOT NULL,
    answered_at       timestamptz
);
CREATE INDEX evidence_requests_case ON evidence_requests (case_no, requested_at);
CREATE INDEX evidence_requests_pending ON evidence_requests (answer_by) WHERE status = 'pending';

-- At a providing region: the licences its 电子证照库 holds (the reference provider), found by
-- a digest of the holder's identifier; the holder's name and the licence's particulars are
-- sealed for this region's own key.
CREATE TABLE evidence_licences (
    evidence_type     text NOT NULL,
    licence_no        text NOT NULL,
    holder_digest     text NOT NULL,
    holder_sealed     jsonb NOT NULL,
    issuer            text NOT NULL,
    issued_on         date NOT NULL,
    imported_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (evidence_type, licence_no)
);
CREATE INDEX evidence_licences_holder ON evidence_licences (evidence_type, holder_digest);

-- At a providing region: every request it answered (who used whose data, for what, when, and
-- what it answered). Written in the transaction that writes the answer to the outbox.
CREATE TABLE evidence_uses (
    requester_region  text NOT NULL,
    request_id        text NOT NULL,
    case_no           text NOT NULL,
    evidence_type     text NOT NULL,
    item_code         text NOT NULL,
    material          text NOT NULL,
    holder_digest     text,
    consent           jsonb NOT NULL,
    outcome           text NOT NULL,
    answer_event_id   text NOT NULL,
    answered_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (requester_region, request_id)
);
CREATE INDEX evidence_uses_holder ON evidence_uses (holder_digest, answered_at);
CREATE INDEX evidence_uses_case ON evidence_uses (case_no);
