-- Documents a region issued (issue 16): signed PDFs in file_blobs, one row each here.
-- A document is issued once per occasion (the step's event or effect that issues it), so a
-- retried commit finds its document instead of numbering a second one. Numbers are unique in
-- the region; serials come from one sequence (a gap is a document whose commit rolled back).
CREATE SEQUENCE document_serial;

CREATE TABLE documents (
    number          text PRIMARY KEY,
    case_no         text NOT NULL,
    doc_type        text NOT NULL,
    title           text NOT NULL,
    occasion        text NOT NULL,
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size            integer NOT NULL,
    issued_at       timestamptz NOT NULL,
    UNIQUE (case_no, occasion)
);
CREATE INDEX documents_case ON documents (case_no);
CREATE INDEX documents_sha256 ON documents (sha256);

-- A case's file lists documents the other region issued (B's notices at A's window) beside
-- the materials: they travel the same way, and are shown apart.
ALTER TABLE case_files ADD COLUMN kind text NOT NULL DEFAULT 'material'
    CHECK (kind IN ('material', 'document'));
