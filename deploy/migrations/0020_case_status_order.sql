-- A case's status only moves forward (decision 0038): each commit names how many steps the case
-- had taken when it reached the status it writes, and a commit that arrives late (a retried
-- attempt outliving a newer one) cannot put an older status back over a newer one.
ALTER TABLE cases ADD COLUMN status_steps integer NOT NULL DEFAULT 0 CHECK (status_steps >= 0);
