-- The order saga (step 6): every multi-store change to an order (placing it, paying it,
-- cancelling it) is a row here before its first step, so a process that dies half-way leaves
-- a record that any instance's recovery worker finishes or compensates.

CREATE TABLE sagas (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('place', 'pay', 'cancel')),
    order_id    object_id   NOT NULL,
    -- The step it is at (or has reached, once it has ended): see `saga::Step`.
    step        text        NOT NULL,
    state       text        NOT NULL
                CHECK (state IN ('running', 'done', 'compensated', 'failed')),
    -- What the saga needs to go on after a crash: the order to place, the card and the
    -- provider's idempotency key of a payment, the charge to refund.
    data        jsonb       NOT NULL,
    -- Who drives it until when: a running saga whose lease has run out is anyone's to resume.
    owner       text,
    lease_until timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- What the recovery worker scans: running sagas, oldest lease first.
CREATE INDEX sagas_running_by_lease ON sagas (lease_until) WHERE state = 'running';
CREATE INDEX sagas_by_order ON sagas (order_id);

-- What each order holds of each product's stock. A row exists before the stock moves in
-- MongoDB (`reserving`), so a crash between the two is found and finished; `held` stock
-- is reserved for a pending order, `sold` belongs to a paid or shipped one; `releasing`
-- is on its way back, `released` is back. For every product, MongoDB's stock plus what is
-- held or sold here is what the product started with.
CREATE TABLE stock_reservations (
    order_id   object_id   NOT NULL,
    product_id object_id   NOT NULL,
    quantity   integer     NOT NULL CHECK (quantity > 0),
    state      text        NOT NULL
               CHECK (state IN ('reserving', 'held', 'sold', 'releasing', 'released')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, product_id)
);

CREATE INDEX stock_reservations_by_product ON stock_reservations (product_id, state);

-- Pending orders by age: what the expiry scans.
CREATE INDEX orders_pending_by_age ON orders (created_at) WHERE status = 'pending';
