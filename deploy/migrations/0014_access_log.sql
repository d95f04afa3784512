-- The access log: every opening of a case's personal data or of one of its files at this
-- region's node (issue 15, decision 0022). Written in the request that opens, before the
-- answer is sent: a request whose row cannot be written is not answered (fail closed).
--
-- Who: the bearer token's id (never the token or its hash) and what the token grants: role,
-- window or office, and the person it was issued to (工号 and name; absent for tokens issued
-- before tokens named their person). What: the case, the route, and either the applicant's
-- fields opened (case-file) or the material's digest (material). The row never holds the
-- personal data itself.
CREATE TABLE access_log (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    case_no          text NOT NULL,
    token_id         text NOT NULL CHECK (token_id ~ '^[0-9a-f]{12}$'),
    role             text NOT NULL,
    region           text NOT NULL,
    window_name      text NOT NULL,
    person_id        text,
    person_name      text,
    route            text NOT NULL,
    what             text NOT NULL CHECK (what IN ('case-file', 'material')),
    fields           text[] NOT NULL DEFAULT '{}',
    material_sha256  text CHECK (material_sha256 ~ '^[0-9a-f]{64}$'),
    CHECK ((what = 'material') = (material_sha256 IS NOT NULL))
);
CREATE INDEX access_log_case ON access_log (case_no, at);

-- Evidence of who looked: appended, never changed.
CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only';
END $$;
CREATE TRIGGER access_log_no_update BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
