-- The bookkeeping of `step05-hybrid-dbs migrate-orders`, the copy of steps 0-4's orders and
-- payments from MongoDB: where it stopped (so a run killed at any point resumes there) and
-- what it could not copy, with the reason (so nothing is dropped silently).

CREATE TABLE migration_checkpoints (
    name        text        PRIMARY KEY,
    -- The last MongoDB `_id` whose batch was committed; the next run starts after it.
    last_id     object_id,
    copied      bigint      NOT NULL DEFAULT 0 CHECK (copied >= 0),
    updated_at  timestamptz NOT NULL
);

CREATE TABLE migration_problems (
    name        text        NOT NULL,
    -- `orders:<_id>` or `payments:<idempotency key>`.
    source      text        NOT NULL,
    reason      text        NOT NULL,
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (name, source)
);
