-- Event ids are unique per sender (0007), so the log may hold two accepted events with one id
-- from different regions. A retried append of the same bytes still finds its row.
ALTER TABLE message_log DROP CONSTRAINT message_log_direction_event_id_key;
CREATE UNIQUE INDEX message_log_event ON message_log (direction, event_id, sha256(envelope));
