-- Effects carried out by the region's own systems (issue 17, decision 0029). The journal of
-- instructions becomes orders with a state: the step's commit writes the order (once per case
-- and key, in the step's transaction), the effect activity calls the order's adapter and
-- records each attempt and the answer here, operators list and retry them.
CREATE TABLE effect_orders (
    id           bigserial PRIMARY KEY,
    case_no      text NOT NULL,
    key          text NOT NULL,
    effect       text NOT NULL,
    amount_fen   integer NOT NULL DEFAULT 0,
    detail       text NOT NULL DEFAULT '',
    adapter      text NOT NULL,
    state        text NOT NULL DEFAULT 'ordered'
                 CHECK (state IN ('ordered', 'pending', 'done', 'refused', 'dead', 'resolved')),
    -- Raised when an operator retries a refused effect: the idempotency key names the series.
    series       integer NOT NULL DEFAULT 1 CHECK (series >= 1),
    attempts     integer NOT NULL DEFAULT 0,  -- calls in the current series
    reference    text NOT NULL DEFAULT '',   -- the system's own id for the effect
    reason       text NOT NULL DEFAULT '',   -- refused: why; dead: the last failure
    answer_due   timestamptz,                -- pending: the callback is due by then
    ordered_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_no, key)
);
CREATE INDEX effect_orders_open ON effect_orders (state) WHERE state NOT IN ('done', 'resolved');

-- Every call and answer, for "why is this effect where it is".
CREATE TABLE effect_attempts (
    order_id  bigint NOT NULL REFERENCES effect_orders (id),
    series    integer NOT NULL,
    attempt   integer NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    outcome   text NOT NULL,  -- done | refused | pending | unavailable | callback | retry | resolved
    reason    text NOT NULL DEFAULT '',
    actor     text NOT NULL DEFAULT ''
);
CREATE INDEX effect_attempts_order ON effect_attempts (order_id);

-- Effects recorded before adapters existed were instructions nothing carried out: kept as done
-- by the journal, so they are not sent to a system now.
INSERT INTO effect_orders (case_no, key, effect, amount_fen, detail, adapter, state, ordered_at)
SELECT case_no, key, effect, amount_fen, detail, 'journal', 'done', done_at FROM case_effects;

DROP TABLE effect_journal;
DROP TABLE case_effects;  -- effect_orders is unique per case and key: one record of each effect
