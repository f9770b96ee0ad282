-- Orders and their lines.
--
-- order_items.unit_price_minor looks like a copy of products.price_minor, but it is a different
-- fact: the price *at the moment of purchase*. Prices change; an invoice must not. Keeping it on
-- the line is correct modelling, not denormalization.
--
-- What is deliberately NOT stored: an order's total. It is a function of its lines, so storing
-- it would let the two disagree. Chapter 02 shows the query that computes it, and when caching
-- it in a column (kept right by the same transaction that writes the lines) would pay.

CREATE TABLE orders (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    status     text        NOT NULL DEFAULT 'placed'
                           CHECK (status IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled')),
    currency   char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    placed_at  timestamptz NOT NULL DEFAULT now()
);
-- No index on orders (user_id) yet: lesson 02's demonstration prints the plan of "a customer's
-- latest orders" before and after creating one, and lesson 11 makes it permanent.

CREATE TABLE order_items (
    order_id         uuid    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       uuid    NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint  NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX order_items_product_id_idx ON order_items (product_id);
