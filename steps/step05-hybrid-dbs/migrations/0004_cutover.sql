-- The cutover from MongoDB, when step 5 runs with `postgres.cutover = true` over the orders
-- steps 0-4 kept: which store serves orders and payments now, one row that every instance
-- reads, so they all switch at once.
--   mongodb    -> orders and payments are read and written in MongoDB, as in step 4; every
--                 order write holds this row FOR SHARE while it runs, so a freeze waits for
--                 the writes already running;
--   frozen     -> order writes are refused with 503 MAINTENANCE and Retry-After, reads still
--                 come from MongoDB, and `step05-hybrid-dbs cutover` copies and verifies;
--   postgresql -> everything in PostgreSQL, for good (an instance that has seen it stops
--                 reading this row).
CREATE TABLE cutover (
    only_row boolean PRIMARY KEY DEFAULT true CONSTRAINT cutover_one_row CHECK (only_row),
    phase text NOT NULL DEFAULT 'mongodb'
        CONSTRAINT cutover_phase CHECK (phase IN ('mongodb', 'frozen', 'postgresql')),
    -- What a refused write's Retry-After says while frozen.
    retry_after_secs integer NOT NULL DEFAULT 5
        CONSTRAINT cutover_retry_after CHECK (retry_after_secs BETWEEN 1 AND 3600),
    changed_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO cutover DEFAULT VALUES;
