-- The case file: materials as content (issue 15).
--
-- file_blobs is the region's content-addressed store: a file's bytes once, by SHA-256,
-- whichever cases list it. Scans and PDFs are compressed already, so Postgres keeps them
-- out of line without trying to compress them again.
CREATE TABLE file_blobs (
    sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size       integer NOT NULL CHECK (size >= 0),
    content    bytea NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE file_blobs ALTER COLUMN content SET STORAGE EXTERNAL;

-- What each case's file lists, on both sides: at the window when the clerk takes a material,
-- at the processing region when the manifest (the forwarded or 补正 event) arrives.
-- complete_at: the bytes are in file_blobs and match the digest (set at A on upload; at B
-- once every chunk arrived and the assembled file matched).
CREATE TABLE case_files (
    case_no               text NOT NULL,
    sha256                text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    name                  text NOT NULL,
    size                  integer NOT NULL CHECK (size >= 0),
    media_type            text NOT NULL,
    chunk_digests         text[] NOT NULL,
    originals_checked_by  text,
    originals_checked_at  timestamptz,
    added_at              timestamptz NOT NULL DEFAULT now(),
    complete_at           timestamptz,
    PRIMARY KEY (case_no, sha256)
);
CREATE INDEX case_files_incomplete ON case_files (case_no) WHERE complete_at IS NULL;

-- Chunks received before their file is complete. One row per distinct chunk offered for a
-- position (a chunk that does not match the manifest is refused, or set aside to quarantine
-- once the manifest arrives); the rows of a file go once it is assembled.
CREATE TABLE file_parts (
    case_no          text NOT NULL,
    material_sha256  text NOT NULL,
    idx              integer NOT NULL CHECK (idx >= 0),
    chunk_sha256     text NOT NULL,
    chunk_count      integer NOT NULL CHECK (chunk_count >= 1),
    content          bytea NOT NULL,
    sender_region    text NOT NULL,
    event_id         text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_no, material_sha256, idx, chunk_sha256)
);
ALTER TABLE file_parts ALTER COLUMN content SET STORAGE EXTERNAL;

-- A file completed by its last chunk lets the case's held events go at once (dispatch).
CREATE INDEX inbox_undelivered_case ON inbox (case_no) WHERE delivered_at IS NULL;
