-- The newest trust directory this node has accepted (events/directory_floor.py): after a
-- restart the node refuses a directory file older than this one, whose keys may have been
-- revoked since, and keeps this copy in force instead. One row; the document is the signed
-- directory as published, verified again against the pinned root when it is read.

CREATE TABLE directory_floor (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version     integer NOT NULL CHECK (version >= 1),
    document    bytea NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now()
);
