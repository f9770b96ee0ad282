-- The catalog grows up (book chapter 05, "Capstone step"): products get attributes, a
-- full-text search document, an archive flag, and the indexes that make searching, filtering,
-- sorting and keyset pagination cheap. Earlier migrations are never edited: a database that
-- has applied them records their checksums, and a changed file would refuse to start.
--
-- Every ALTER below is one statement so the table is rewritten once (the STORED generated
-- column forces a rewrite; on a large production table that is a maintenance-window job).

ALTER TABLE products
    -- What a shopper filters on besides price and category: {"brand": "Norda", "colour":
    -- "green"}. A jsonb object rather than a column per attribute because each department has
    -- its own (jackets have sizes, books do not), and rather than an EAV table because one
    -- product's attributes are read and written together. The constraint keeps it an object of
    -- strings, which is all the search filters and facets know how to compare.
    ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT products_attributes_are_strings CHECK (
            jsonb_typeof(attributes) = 'object'
            AND NOT jsonb_path_exists(attributes, '$.* ? (@.type() != "string")')
        ),
    -- Deleting a product would break the orders that bought it (order_items references it
    -- ON DELETE RESTRICT) and forget its history. An admin's DELETE sets this instead: an
    -- archived product is no longer listed, found or sold; its rows in old orders stay intact.
    ADD COLUMN archived_at timestamptz,
    -- The search document, kept up to date by PostgreSQL on every write, so no code path can
    -- forget it. Weights rank a match in the name (A) above one in an attribute value such as a
    -- colour (B) above one in the description (C). The text search configuration is named
    -- ('english'), not taken from default_text_search_config: the expression must be
    -- IMMUTABLE to be stored, and a server setting must not change what was indexed.
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A')
        || setweight(jsonb_to_tsvector('english', attributes, '["string"]'), 'B')
        || setweight(to_tsvector('english', description), 'C')
    ) STORED;

-- `search @@ websearch_to_tsquery(...)` uses this. GIN maps each lexeme to the rows that
-- contain it: the inverted index a search engine is built on.
CREATE INDEX products_search_idx ON products USING gin (search);

-- `attributes @> '{"brand": "Norda"}'` (the attribute filters) uses this. jsonb_path_ops
-- indexes only containment (not "does key X exist"), which is all the filters ask, and its
-- index is smaller and faster than the default jsonb_ops.
CREATE INDEX products_attributes_idx ON products USING gin (attributes jsonb_path_ops);

-- One index per allow-listed sort, each ending in the tie-breaker id, so that both
-- `ORDER BY <key>, id LIMIT n` and the keyset condition `(<key>, id) > ($1, $2)` are a range
-- scan that stops after n rows, however deep the page. A descending sort reads the same index
-- backwards. They are partial (WHERE archived_at IS NULL) because every listing excludes
-- archived products, so archived rows need not be indexed; the queries repeat that exact
-- condition so the planner can prove the index applies.
CREATE INDEX products_price_keyset_idx ON products (price_minor, id) WHERE archived_at IS NULL;
CREATE INDEX products_created_keyset_idx ON products (created_at, id) WHERE archived_at IS NULL;
CREATE INDEX products_name_keyset_idx ON products (name, id) WHERE archived_at IS NULL;
