-- Console sessions (issue 18, decision 0032): a person signed in at this region's web console.
-- The session id itself lives only in the person's cookie; this table keeps its SHA-256, so a
-- copy of the table opens no session. The token the person signed in with is named by its id
-- (12 hex digits, regions/tokens.py), never stored: every request re-reads the token file and
-- ends the session once that token is revoked or expired.
CREATE TABLE console_sessions (
    session_sha256  text PRIMARY KEY CHECK (session_sha256 ~ '^[0-9a-f]{64}$'),
    token_id        text NOT NULL CHECK (token_id ~ '^[0-9a-f]{12}$'),
    region          text NOT NULL CHECK (region ~ '^\d{6}$'),
    role            text NOT NULL
                    CHECK (role IN ('window-clerk', 'processing-officer', 'operator')),
    window_name     text NOT NULL,
    -- The person (工号, name) the token was issued to; absent for tokens that name none.
    person_id       text,
    person_name     text,
    -- Every POST form of the session carries it (compared in constant time).
    csrf_secret     text NOT NULL CHECK (length(csrf_secret) >= 32),
    created_at      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    -- The absolute end, however active the person is; the idle timeout ends it sooner.
    expires_at      timestamptz NOT NULL,
    CHECK ((person_id IS NULL) = (person_name IS NULL)),
    CHECK (created_at <= last_seen AND created_at < expires_at)
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
CREATE INDEX console_sessions_token ON console_sessions (token_id);
