-- The sales report reads paid and shipped orders by the time they were placed: a partial
-- index on that time, holding the columns the report needs from `orders` (an index-only scan;
-- the lines are then read by their primary key, whose first column is the order id).
CREATE INDEX orders_sold_by_time ON orders (created_at) INCLUDE (id, currency)
    WHERE status IN ('paid', 'shipped');
