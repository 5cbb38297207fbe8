-- The transactional outbox (step 6): an order's events are rows written in the transaction
-- that changes the order, so an event exists exactly when its change does. The relay
-- publishes them to a Redis stream; consumers there apply each once.

CREATE TABLE outbox (
    -- The order of publication.
    id           bigserial   PRIMARY KEY,
    -- What consumers deduplicate by: the same event published twice has one id.
    event_id     uuid        NOT NULL UNIQUE,
    kind         text        NOT NULL
                 CHECK (kind IN ('order_placed', 'order_paid', 'order_cancelled', 'order_shipped')),
    order_id     object_id   NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Which consumer has applied which event: written in the transaction of the effect, so an
-- event delivered twice is applied once.
CREATE TABLE consumed_events (
    consumer    text        NOT NULL,
    event_id    uuid        NOT NULL,
    consumed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- The sales projection: paid orders (less refunds) per day and currency, kept by a consumer
-- from the events alone, beside step 5's report that sums the orders table.
CREATE TABLE sales_by_day (
    day           date          NOT NULL,
    currency      currency_code NOT NULL,
    orders        bigint        NOT NULL,
    revenue_minor bigint        NOT NULL,
    PRIMARY KEY (day, currency)
);

-- The mailbox: the messages a customer would be mailed about their orders.
CREATE TABLE mailbox (
    id         bigserial   PRIMARY KEY,
    user_id    object_id   NOT NULL,
    order_id   object_id   NOT NULL,
    event_id   uuid        NOT NULL UNIQUE,
    subject    text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX mailbox_by_user ON mailbox (user_id, id DESC);
