-- 数据多跑路 for the applicant (issue 20 items 3 and 4, decision 0041).

-- Whose evidence a request asked for, as the provider finds licences (a digest of the
-- subject's ID number or credit code): the applicant signed in at this region lists the
-- requests made for them, and only they may preview or decline what came. NULL on rows
-- written before this column.
ALTER TABLE evidence_requests ADD COLUMN holder_digest text;
CREATE INDEX evidence_requests_holder ON evidence_requests (holder_digest, requested_at);

-- 全程网办: the applicant sees the evidence before it is used. A verified answer is held
-- ('held') until they approve it ('obtained') or decline it ('declined': the material is
-- handed in by them after all, and the document is dropped).
ALTER TABLE evidence_requests ADD COLUMN applicant_preview boolean NOT NULL DEFAULT false;
ALTER TABLE evidence_requests ADD COLUMN decided_at timestamptz;
ALTER TABLE evidence_requests DROP CONSTRAINT evidence_requests_status_check;
ALTER TABLE evidence_requests ADD CONSTRAINT evidence_requests_status_check CHECK (
    status IN ('pending', 'held', 'obtained', 'refused', 'timed-out', 'unverified', 'declined')
);
