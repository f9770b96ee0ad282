-- Accounts (book chapter 04, "Capstone step"): passwords, roles, verified addresses, sessions
-- that can be revoked, and API keys for integrations.
--
-- One rule runs through every table below: a secret the service hands out (a verification
-- token, a refresh token, an API key's secret) is stored only as its SHA-256 hash. A copy of
-- this database (a backup, a leaked dump, a curious replica reader) then holds nothing anyone
-- can sign in with. SHA-256 without salt or stretching is right for these, unlike for
-- passwords: the secrets are 256 random bits, so there is no dictionary to try. Passwords are
-- chosen by people and get argon2id.

-- ANCHOR: users
-- Users learn to sign in.
ALTER TABLE users
    -- The argon2id hash as a PHC string ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"): the
    -- algorithm and its parameters travel with the hash, so raising the parameters later
    -- needs no migration, and the service rehashes on the next successful login. NULL means
    -- "cannot sign in with a password": the seeded demo customers, and erased accounts.
    ADD COLUMN password_hash text CHECK (password_hash LIKE '$argon2id$%'),
    -- Text with a CHECK rather than a PostgreSQL enum: adding a role is then one constraint
    -- swap inside a transaction, and sqlx reads it as a plain string that shop_domain::Role
    -- parses. The same three spellings as Role::as_str.
    ADD COLUMN role text NOT NULL DEFAULT 'customer'
        CHECK (role IN ('customer', 'support', 'admin')),
    -- When the current address was proven to reach its owner; NULL until then, and again
    -- after an email change until the new address is proven.
    ADD COLUMN email_verified_at timestamptz,
    -- The last password change: shown in the export, and handy when investigating a takeover.
    ADD COLUMN password_changed_at timestamptz,
    -- Set by erasure (DELETE /me). The row stays because orders reference it (bookkeeping
    -- law keeps invoices for years); everything personal in it is overwritten.
    ADD COLUMN erased_at timestamptz;
-- No new index on users: admins page through accounts by id and support staff look one up
-- by id, both served by the primary key; sign-in goes through users_email_key.
-- ANCHOR_END: users

-- Email verification tokens: proof that a message reached the address. Single use (used_at)
-- and short-lived (expires_at). `email` pins the address the token was sent to: after a
-- second email change, a token mailed to the previous address verifies nothing.
CREATE TABLE email_verification_tokens (
    -- SHA-256 of the token; the token itself only ever exists in the mail.
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Set when the token is redeemed; a second redemption finds it set and fails.
    used_at    timestamptz
);
-- Erasure deletes a user's tokens; without this index that would scan the table.
CREATE INDEX email_verification_tokens_user_id_idx ON email_verification_tokens (user_id);

-- ANCHOR: sessions
-- Sessions: one per sign-in, the "family" every refresh token of that sign-in belongs to.
-- Revoking the session (logout, password change, erasure, a refresh token used twice) ends
-- every token of the family at once, including the access tokens it issued: the access-token
-- check looks the session up (see shop-api's auth::extract).
CREATE TABLE sessions (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- The last refresh: an idle session is one whose tokens have all expired.
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    -- The absolute lifetime: no amount of refreshing keeps a session past this.
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    -- Why, for the user's export and for an investigation after a reuse alarm.
    revoked_reason text        CHECK (revoked_reason IN
                                   ('logout', 'refresh_reuse', 'password_change', 'erasure')),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
-- "Revoke every other session of this user" and the export both go by user.
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Refresh tokens: opaque, random, rotated on every use. Each refresh marks the presented
-- token used and issues the next one in the same session. A used token presented again means
-- two parties hold the family (the user and a thief, in some order), so the whole session is
-- revoked: the thief's next refresh fails, and so does the user's, who signs in again.
CREATE TABLE refresh_tokens (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    -- The idle timeout: a session nobody refreshes for this long is over.
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
-- Deleting a session's tokens (erasure) goes by session.
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
-- ANCHOR_END: sessions

-- ANCHOR: api_keys
-- API keys: long-lived credentials for integrations (a warehouse system reading orders), with
-- scopes that say what they may do. A key reads `shop_<prefix>_<secret>`: the prefix is
-- public (it finds the row, and appears in listings so a user can tell keys apart), the secret
-- is stored as its SHA-256 hash and shown once, at creation. Rotation is "create the new key,
-- switch the integration over, revoke the old one": two keys may be live at once on purpose.
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prefix       text        NOT NULL UNIQUE CHECK (prefix ~ '^[0-9a-f]{12}$'),
    secret_hash  bytea       NOT NULL CHECK (length(secret_hash) = 32),
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The scopes the service knows; an empty key would be useless, so at least one.
    scopes       text[]      NOT NULL CHECK (cardinality(scopes) > 0
                                 AND scopes <@ ARRAY['catalog:read', 'orders:read']),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Updated at most once a minute per key (see shop-db's api_keys.rs): enough to spot
    -- unused keys, without a write on every request.
    last_used_at timestamptz,
    revoked_at   timestamptz
);
-- A user's key list and erasure go by user.
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);
-- ANCHOR_END: api_keys

-- Deliberately no index on orders (user_id) here, although the export and the integrations
-- endpoint read a user's orders: lesson 02's demonstration shows that query's plan before and
-- after creating one, on these very migrations, and lesson 11 makes it permanent.
