-- Issue 19, decision 0034: the mode a case runs in, and the applicant of a 全程网办 case.
-- `mode` is the catalog's name of the mode (全程网办, 异地代收代办, 多地联办, 省内通办); NULL on
-- rows recorded before cases named their mode (the mode the region pair implies).
ALTER TABLE cases ADD COLUMN mode text
    CHECK (mode IN ('全程网办', '异地代收代办', '多地联办', '省内通办'));
-- 全程网办 only: a digest of the identity provider's pseudonymous subject (issuer and subject,
-- SHA-256, 32 hex digits), never the subject itself: the applicant's own cases are those
-- carrying the digest of the subject in their verified token.
ALTER TABLE cases ADD COLUMN applicant_subject text
    CHECK (applicant_subject ~ '^[0-9a-f]{32}$');
ALTER TABLE cases ADD CONSTRAINT cases_online_applicant
    CHECK ((applicant_subject IS NULL) OR (mode = '全程网办' AND role = 'origin'));
CREATE INDEX cases_applicant ON cases (applicant_subject, created_at)
    WHERE applicant_subject IS NOT NULL;
