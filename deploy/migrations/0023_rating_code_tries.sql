-- 好差评 (decision 0039): wrong one-time rating codes entered for a case, counted so that a
-- terminal guessing a case's code is refused for a while. Kept on each of the case's code
-- rows (the same values on all of them); a new code from the clerk clears them.
ALTER TABLE rating_codes
    ADD COLUMN IF NOT EXISTS wrong_tries integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS wrong_since timestamptz;
