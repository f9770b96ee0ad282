-- Lesson 10: the transactional outbox and the consumers' deduplication table.
--
-- An event is a row written in the same transaction as the state change it describes, so the
-- two commit or roll back together; the relay (shop-events) publishes unsent rows to RabbitMQ
-- and marks them sent only after the broker confirms. `created_seq` orders the rows as they
-- were committed closely enough for one relay to publish them in order.
CREATE TABLE outbox_events (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL,
    version     integer NOT NULL,
    key         text NOT NULL,
    payload     jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    created_seq bigint GENERATED ALWAYS AS IDENTITY,
    sent_at     timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text
);

-- The relay's query reads only unsent rows, oldest first: once sent, a row leaves this index.
CREATE INDEX outbox_events_unsent ON outbox_events (created_seq) WHERE sent_at IS NULL;

-- One row per (consumer, event) the consumer has handled. Inserted in the same transaction as
-- the handler's own effects, so a redelivered event finds its row and is acknowledged unseen.
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
