-- The shop's first schema: who buys (users), what is sold (categories, products) and where the
-- goods are (warehouses, stock_levels). Book chapter 02 walks through why each table exists.
--
-- Normal forms in one sentence each:
--   1NF: every column holds one value (no comma-separated tag lists, no price1/price2 columns);
--   2NF: no column depends on part of a composite key (stock_levels.on_hand needs both halves);
--   3NF: no column depends on another non-key column (a product stores category_id, never the
--        category's name, which belongs to the category alone).

-- Users. The address is case-insensitively unique: "Ada@Example.com" and "ada@example.com"
-- are one person. shop-domain's Email already lower-cases the domain; the unique index on
-- lower(email) makes the database hold the line even for rows written by other code.
CREATE TABLE users (
    id           uuid        PRIMARY KEY,
    email        text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    display_name text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Categories form a tree (Electronics > Audio > Headphones): a self-reference, not a second
-- table per level. The slug is what URLs use.
CREATE TABLE categories (
    id        uuid PRIMARY KEY,
    parent_id uuid REFERENCES categories (id) ON DELETE RESTRICT,
    slug      text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 100)
);
CREATE INDEX categories_parent_id_idx ON categories (parent_id);

-- Products. Money is an integer count of minor units plus its currency, exactly as
-- shop_domain::Money holds it: no floating point anywhere between the database and the wire.
CREATE TABLE products (
    id           uuid        PRIMARY KEY,
    sku          text        NOT NULL UNIQUE CHECK (sku ~ '^[A-Z0-9]+(-[A-Z0-9]+)*$'),
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text        NOT NULL DEFAULT '',
    category_id  uuid        NOT NULL REFERENCES categories (id) ON DELETE RESTRICT,
    price_minor  bigint      NOT NULL CHECK (price_minor >= 0),
    currency     char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- PostgreSQL indexes primary keys and UNIQUE columns by itself, never foreign keys: listing a
-- category's products would scan the whole table without this one.
CREATE INDEX products_category_id_idx ON products (category_id);

CREATE TABLE warehouses (
    id   uuid PRIMARY KEY,
    code text NOT NULL UNIQUE CHECK (code ~ '^[A-Z]{3}[0-9]$'),
    name text NOT NULL
);

-- How many units of a product one warehouse holds. The key is the pair: "on hand" is a fact
-- about a product *in a warehouse*, so it cannot live on either table alone (2NF). The CHECK
-- is the last line of defence against overselling: a transaction that would take stock below
-- zero fails instead of committing.
CREATE TABLE stock_levels (
    warehouse_id uuid        NOT NULL REFERENCES warehouses (id) ON DELETE CASCADE,
    product_id   uuid        NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    on_hand      integer     NOT NULL CHECK (on_hand >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (warehouse_id, product_id)
);
CREATE INDEX stock_levels_product_id_idx ON stock_levels (product_id);
