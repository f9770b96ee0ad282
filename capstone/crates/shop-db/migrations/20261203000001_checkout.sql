-- The checkout (book chapter 08, "Capstone step"): what ties an order to the other services'
-- records, the idempotency keys of POST /checkout, and the payment webhooks already handled.

-- The inventory's reservation and the provider's payment intent for the order. Both NULL for
-- orders placed before the checkout existed (the seed's), and each set once by the checkout.
ALTER TABLE orders
    ADD COLUMN reservation_id    uuid,
    ADD COLUMN payment_intent_id text CHECK (payment_intent_id ~ '^pi_[a-z0-9]{1,64}$');

-- A webhook finds its order by the intent, and no two orders share one.
CREATE UNIQUE INDEX orders_payment_intent_id_key ON orders (payment_intent_id);

-- One row per Idempotency-Key a customer has sent to POST /checkout.
CREATE TABLE checkout_requests (
    -- Keys are per customer: two customers who both pick "1" do not collide. CASCADE: the
    -- rows hold no personal data, but nothing needs them once the account is gone.
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idempotency_key text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- SHA-256 of the request as the service understood it: the same key with another body
    -- is refused (422) instead of answered with the first body's order.
    request_hash    bytea       NOT NULL CHECK (length(request_hash) = 32),
    -- Chosen when the key is first seen, before anything else happens, so that a retry of an
    -- interrupted checkout resumes the same order: the same reservation key, the same payment
    -- key. No foreign key: the order does not exist yet when the row is written.
    order_id        uuid        NOT NULL UNIQUE,
    -- While a request works on the key, until when it may; NULL when none does. A request
    -- that died mid-way (a crash, a deploy) holds the key only this long.
    locked_until    timestamptz,
    -- The final answer, replayed to every later request with the key. NULL until there is
    -- one: a failure worth retrying (a dependency down) leaves it NULL and the key free.
    response_status smallint    CHECK (response_status BETWEEN 200 AND 499),
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, idempotency_key),
    CHECK ((response_status IS NULL) = (response_body IS NULL))
);

-- Payment webhook events whose effects are done. The provider sends an event again until it
-- hears 2xx, and may send it twice even then: the event id is what makes the second a no-op.
CREATE TABLE payment_events (
    event_id    text        PRIMARY KEY CHECK (event_id ~ '^evt_[a-z0-9]{1,64}$'),
    kind        text        NOT NULL,
    intent_id   text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
