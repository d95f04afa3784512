-- A window's Idempotency-Key names a submission of that window only: the scope is the accepting
-- region and the window, each in a column of its own, so no two windows can collide (0006 kept
-- '<window>:<key>' in one column, and a window whose name holds ':' could meet another's key).
--
-- Rows written under 0006 keep their combined key with no window: a retry never finds them
-- again, and they never block a new submission. Only a submission whose retry spans this
-- upgrade is affected, and it gets a new case rather than another window's.

ALTER TABLE cases ADD COLUMN submission_window text;
DROP INDEX cases_submission_key;
CREATE UNIQUE INDEX cases_submission_scope ON cases (origin_region, submission_window, submission_key)
    WHERE submission_key IS NOT NULL AND submission_window IS NOT NULL;
