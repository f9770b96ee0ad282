-- The inventory service's own database (chapter 08): a service owns its data, and the shop API
-- never reads these tables; it asks the service over gRPC.
--
-- The constraints are the last line of defence: the service's SQL keeps them true, and if a bug
-- (or a hand-written UPDATE) ever tried to break one, the statement fails instead of leaving
-- stock that cannot be explained.

-- One row per SKU. `reserved` is the part of `on_hand` that held reservations set aside, so a
-- new reservation can take `on_hand - reserved`.
CREATE TABLE stock (
    -- The canonical spelling shop_domain::Sku produces (upper case), so one code is one row.
    sku text PRIMARY KEY,
    -- Units in the warehouse cannot be negative: a sale of units we do not have is an oversell.
    on_hand integer NOT NULL CHECK (on_hand >= 0),
    -- Nor can units set aside.
    reserved integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    -- Setting aside more than there is would promise the same unit to two customers.
    CONSTRAINT stock_reserved_within_on_hand CHECK (reserved <= on_hand)
);

CREATE TABLE reservations (
    id uuid PRIMARY KEY,
    -- The caller's key (the checkout's order id): UNIQUE is what makes a retried Reserve find
    -- the first one instead of reserving twice, even when the two calls race.
    idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 128),
    -- The state machine has four states and no other: a typo in a status would otherwise make a
    -- reservation that no code path ever commits, releases or expires.
    status text NOT NULL DEFAULT 'held'
        CHECK (status IN ('held', 'committed', 'released', 'expired')),
    -- When the reaper gives a held reservation's units back.
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The reaper's query: held reservations by expiry. Partial, so the index holds only the few
-- reservations still held, not the whole history.
CREATE INDEX reservations_held_expiry_idx ON reservations (expires_at) WHERE status = 'held';

-- What a reservation holds. These rows are also how a retried Reserve is compared with the
-- first one: the same key with other lines is refused, not answered with the old reservation.
CREATE TABLE reservation_lines (
    reservation_id uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    -- A line names a SKU the stock table knows: a reservation of a SKU that does not exist
    -- could never be committed.
    sku text NOT NULL REFERENCES stock (sku),
    -- A line of zero units holds nothing and would only confuse the arithmetic.
    quantity integer NOT NULL CHECK (quantity > 0),
    -- One line per SKU: two lines of one SKU would be counted twice on commit or release.
    PRIMARY KEY (reservation_id, sku)
);
