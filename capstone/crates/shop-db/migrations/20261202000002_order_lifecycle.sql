-- The order's life (book chapter 08, "Capstone step"): the statuses of the order state machine
-- in shop_domain::order, and a record of every transition.
--
-- The statuses are an expand step, in the sense of lesson 11's expand/contract migrations: the
-- new names are added and existing rows move to them, but the old 'placed' stays allowed,
-- because the seed data generator that lessons 02 and 05 share with the capstone writes it
-- into their (older) schema, and one generator serves both. The code reads 'placed' as
-- pending payment and never writes it. The contract step, dropping 'placed', comes when no
-- writer is left.

ALTER TABLE orders DROP CONSTRAINT orders_status_check;

UPDATE orders SET status = 'pending_payment' WHERE status = 'placed';

ALTER TABLE orders
    ALTER COLUMN status SET DEFAULT 'pending_payment',
    ADD CONSTRAINT orders_status_check CHECK (status IN (
        'pending_payment', 'paid', 'fulfilled', 'shipped', 'delivered', 'cancelled', 'refunded',
        'placed' -- legacy spelling of pending_payment, see above
    )),
    -- When the status last changed: "paid orders waiting longest to be fulfilled" is a query
    -- the warehouse runs all day.
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Every transition an order went through, who made it and when: the answer to "why is my
-- order cancelled?" and the audit trail an admin action needs. Rows are only ever inserted.
-- (Chapter 08 contrasts this with event sourcing, where such a log is the order itself; here
-- the orders row stays the truth and this table is its history.)
CREATE TABLE order_transitions (
    order_id    uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    -- 1, 2, 3... per order, so the history has an order even when two rows share a timestamp,
    -- and two concurrent transitions of one order cannot both claim the same step.
    seq         integer     NOT NULL CHECK (seq > 0),
    from_status text        NOT NULL,
    to_status   text        NOT NULL,
    action      text        NOT NULL,
    -- The admin who made it, or NULL for the shop itself (a payment webhook, the checkout).
    actor_id    uuid        REFERENCES users (id) ON DELETE SET NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, seq)
);
