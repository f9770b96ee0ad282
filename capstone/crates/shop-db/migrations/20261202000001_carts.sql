-- A signed-in customer's cart (book chapter 08, "Capstone step").
--
-- A cart line holds a product and a quantity, and deliberately no price: the cart shows the
-- price the catalog asks *now*, and the checkout charges the price it re-reads at that moment.
-- An order line (order_items.unit_price_minor) freezes the price, because an invoice must not
-- change; a cart must follow the catalog, because a cart is an intention, not a contract.
--
-- Guest carts are not here: they live in Redis with a time-to-live and merge into this table
-- at sign-in (lesson 09). A cart that belongs to nobody does not belong in PostgreSQL.

CREATE TABLE cart_items (
    -- ON DELETE CASCADE: erasing an account (chapter 06) takes its cart with it; a cart is not
    -- a record anyone has to keep.
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- RESTRICT, as for order lines: products are archived, never deleted.
    product_id uuid        NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
    -- The upper bound is a business rule (no one buys 10,000 lanterns through a cart), kept
    -- here as well as in the API so that no code path can store a quantity the checkout would
    -- have to refuse.
    quantity   integer     NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    added_at   timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- One line per product: adding the same product again changes the quantity.
    PRIMARY KEY (user_id, product_id)
);
