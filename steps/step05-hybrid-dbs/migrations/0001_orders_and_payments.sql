-- Orders, their lines and their payments, moved from MongoDB (step 5). Every rule the domain
-- types enforce in Rust is also a constraint here, so no other writer (a migration, a script,
-- a later service) can store what the API could never produce.

-- The API's ids: 24 lower-case hex characters (MongoDB ObjectIds), kept as they are so every
-- id a client ever saw stays valid.
CREATE DOMAIN object_id AS char(24) CHECK (VALUE ~ '^[0-9a-f]{24}$');
-- ISO 4217: three upper-case letters.
CREATE DOMAIN currency_code AS char(3) CHECK (VALUE ~ '^[A-Z]{3}$');

CREATE TABLE orders (
    id            object_id     PRIMARY KEY,
    user_id       object_id     NOT NULL,
    status        text          NOT NULL
                  CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    total_minor   bigint        NOT NULL CHECK (total_minor >= 0),
    currency      currency_code NOT NULL,
    -- The charge that paid it: all of these or none.
    payment_reference     text,
    payment_amount_minor  bigint CHECK (payment_amount_minor >= 0),
    payment_currency      currency_code,
    payment_status        text,
    paid_at               timestamptz,
    created_at    timestamptz   NOT NULL,
    updated_at    timestamptz   NOT NULL CHECK (updated_at >= created_at),
    CONSTRAINT orders_payment_whole CHECK (num_nulls(payment_reference, payment_amount_minor,
        payment_currency, payment_status, paid_at) IN (0, 5)),
    -- Paid and shipped orders carry their payment.
    CONSTRAINT orders_paid_have_payment
        CHECK (status NOT IN ('paid', 'shipped') OR payment_reference IS NOT NULL)
);

-- A user's orders, newest first (ids grow with time, as ObjectIds do).
CREATE INDEX orders_by_user_newest ON orders (user_id, id DESC);

CREATE TABLE order_lines (
    order_id          object_id NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position          smallint  NOT NULL CHECK (position >= 0),
    product_id        object_id NOT NULL,
    sku               text      NOT NULL CHECK (sku ~ '^[A-Z0-9_-]{1,64}$'),
    name              text      NOT NULL CHECK (name <> ''),
    unit_price_minor  bigint    NOT NULL CHECK (unit_price_minor >= 0),
    quantity          integer   NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, position),
    UNIQUE (order_id, product_id)
);

-- A product's order lines.
CREATE INDEX order_lines_by_product ON order_lines (product_id);

CREATE TABLE payments (
    idempotency_key    text          PRIMARY KEY CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    order_id           object_id     NOT NULL REFERENCES orders (id),
    amount_minor       bigint        NOT NULL CHECK (amount_minor >= 0),
    currency           currency_code NOT NULL,
    status             text          NOT NULL
                       CHECK (status IN ('succeeded', 'declined', 'refunded')),
    provider_reference text,
    reason             text,
    created_at         timestamptz   NOT NULL
);

CREATE INDEX payments_by_order ON payments (order_id, created_at);
