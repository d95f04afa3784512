-- Effects a region's case steps have on the world (fees, receipts, materials, notices), each
-- recorded once per case and key, and the journal of instructions issued to the systems that
-- carry them out (payment, courier, SMS). The journal row is written only in the transaction
-- that first records the effect, so a retried or resumed step can never instruct twice.

CREATE TABLE case_effects (
    case_no     text NOT NULL,
    key         text NOT NULL,
    effect      text NOT NULL,
    amount_fen  integer NOT NULL DEFAULT 0,
    detail      text NOT NULL DEFAULT '',
    done_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_no, key)
);

CREATE TABLE effect_journal (
    id          bigserial PRIMARY KEY,
    case_no     text NOT NULL,
    effect      text NOT NULL,
    amount_fen  integer NOT NULL DEFAULT 0,
    detail      text NOT NULL DEFAULT '',
    issued_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX effect_journal_case ON effect_journal (case_no, effect);
