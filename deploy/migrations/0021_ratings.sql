-- Issue 21, decision 0039: 好差评. One rating per case and step; the region that took it
-- (A) keeps every rating it took, the region responsible for it (B for 办结) keeps the copy
-- it received. The comment and every free text of the follow-up are SealedBoxes (JSON) for
-- the holding region: they may hold personal data.
CREATE TABLE ratings (
    rating_id          text PRIMARY KEY,
    case_no            text NOT NULL,
    step               text NOT NULL CHECK (step IN ('received', 'concluded')),
    level              smallint NOT NULL CHECK (level BETWEEN 1 AND 5),
    reasons            text[] NOT NULL DEFAULT '{}',
    comment_sealed     jsonb,
    channel            text NOT NULL CHECK (channel IN ('window', 'online')),
    window_name        text NOT NULL,
    item_code          text NOT NULL,
    origin_region      text NOT NULL,
    processing_region  text NOT NULL,
    -- 谁办理谁负责: the region that answers for the rated step, and its side of the case.
    responsible_region text NOT NULL,
    side               text NOT NULL CHECK (side IN ('A', 'B')),
    rated_at           timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    -- 差评 follow-up (responsible region only): its deadlines, escalations and answer.
    revisit_due        timestamptz,
    revisited_at       timestamptz,
    revisit_sealed     jsonb,
    rectify_due        timestamptz,
    rectified_at       timestamptz,
    rectify_sealed     jsonb,
    escalations        text[] NOT NULL DEFAULT '{}',
    answered_at        timestamptz,
    answer_sealed      jsonb,
    answered_on_time   boolean,
    -- 申诉复核: a rating set aside on appeal, with the reviewer's recorded reason (sealed).
    set_aside_at       timestamptz,
    set_aside_by       text,
    set_aside_sealed   jsonb,
    CONSTRAINT ratings_once_per_step UNIQUE (case_no, step)
);
CREATE INDEX ratings_by_time ON ratings (responsible_region, rated_at);

-- The one-time code a window prints on the applicant's receipt (一次一评): the applicant, not
-- the clerk, rates with it. Only its SHA-256 is kept; it is spent by the rating it allows.
CREATE TABLE rating_codes (
    code_sha256  bytea PRIMARY KEY,
    case_no      text NOT NULL,
    step         text NOT NULL CHECK (step IN ('received', 'concluded')),
    window_name  text NOT NULL,
    issued_by    text,
    issued_at    timestamptz NOT NULL DEFAULT now(),
    used_at      timestamptz,
    CONSTRAINT rating_codes_one_per_step UNIQUE (case_no, step)
);
