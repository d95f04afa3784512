-- The window's idempotency key (HTTP `Idempotency-Key`) of the submission that created a case:
-- a clerk's client that retries after a timeout or a 503 gets the same case back, never a
-- second one. Nullable: cases submitted without a key (the CLI demo, tests, older rows).

ALTER TABLE cases ADD COLUMN submission_key text;
CREATE UNIQUE INDEX cases_submission_key ON cases (submission_key) WHERE submission_key IS NOT NULL;
