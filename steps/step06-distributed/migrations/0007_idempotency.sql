-- Idempotency keys (step 6): a request sent with an `Idempotency-Key` header is a row here,
-- written before the request runs, so a retry with the same key is answered from the row
-- (or told that the first is still running) instead of running again. A key belongs to the
-- user who sent it: two users' equal keys are two rows.

CREATE TABLE idempotency_keys (
    user_id      object_id   NOT NULL,
    key          text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the method, the path and query and the body: a key sent again with another
    -- request is refused, not answered with the first request's response.
    fingerprint  bytea       NOT NULL CHECK (length(fingerprint) = 32),
    state        text        NOT NULL CHECK (state IN ('running', 'done')),
    -- Which request runs it (new with each claim), until when: a running key whose lease
    -- has run out was left by a process that died, and the next request takes it over.
    owner        uuid        NOT NULL,
    lease_until  timestamptz NOT NULL,
    -- The stored response, once done: what a replay answers.
    status       smallint    CHECK (status BETWEEN 100 AND 499),
    content_type text,
    -- The response headers a client needs again (`Location`...), as [[name, value], ...].
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- First use plus `idempotency.ttl_secs`: after it the key is as if new.
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, key),
    CHECK ((state = 'done') = (status IS NOT NULL AND body IS NOT NULL))
);

-- What the sweeper deletes: expired keys, oldest first.
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
