-- Issue 13: nothing a record contains can stop a region.

-- Event ids are unique per sender, not nationally: ids are derived from (case, step, sender)
-- and so predictable, and a third region must not pre-empt another region's id by sending
-- first. The same (sender, id) again with other bytes is quarantined, never taken as the
-- original.
ALTER TABLE inbox_duplicates DROP CONSTRAINT inbox_duplicates_event_id_fkey;
ALTER TABLE inbox DROP CONSTRAINT inbox_pkey;
ALTER TABLE inbox ADD PRIMARY KEY (sender_region, event_id);
CREATE INDEX inbox_event_id ON inbox (event_id);

ALTER TABLE inbox_duplicates ADD COLUMN sender_region text;
UPDATE inbox_duplicates d SET sender_region = i.sender_region
    FROM inbox i WHERE i.event_id = d.event_id;
ALTER TABLE inbox_duplicates ALTER COLUMN sender_region SET NOT NULL;
ALTER TABLE inbox_duplicates DROP CONSTRAINT inbox_duplicates_pkey;
ALTER TABLE inbox_duplicates ADD PRIMARY KEY (sender_region, event_id);
ALTER TABLE inbox_duplicates ADD FOREIGN KEY (sender_region, event_id)
    REFERENCES inbox (sender_region, event_id);

-- A delivery the case workflow cannot take (not a Temporal outage: a refusal) is recorded
-- here instead of being retried forever by the sweeper.
ALTER TABLE inbox ADD COLUMN undeliverable_at timestamptz;

-- Bounded quarantine: at most a configured number of bytes of each record is kept, but the
-- digest and length of the whole record always, so it can be matched against a sender's copy.
ALTER TABLE quarantine
    ADD COLUMN raw_sha256 bytea,
    ADD COLUMN raw_length integer,
    -- The region the record claims to come from, when that much could be read (unverified).
    ADD COLUMN claimed_sender text;
UPDATE quarantine SET raw_sha256 = sha256(raw), raw_length = octet_length(raw);
ALTER TABLE quarantine
    ALTER COLUMN raw_sha256 SET NOT NULL,
    ALTER COLUMN raw_length SET NOT NULL;
CREATE INDEX quarantine_received ON quarantine (received_at);
