-- The initial tokenserver schema. Every timestamp is timestamptz and the
-- store writes UTC. Secrets never appear here in plain text: clients and
-- users keep hashes, refresh tokens are stored by SHA-256, signing keys are
-- sealed by the keys package before they reach the database.

-- +goose Up
CREATE TABLE users (
    id                  uuid        PRIMARY KEY,
    username            text        NOT NULL CHECK (username <> ''),
    password_hash       text        NOT NULL,
    disabled            boolean     NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    password_changed_at timestamptz
);
-- Usernames are unique case-insensitively; UserByName uses this index.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE clients (
    id                      text        PRIMARY KEY CHECK (id <> ''),
    secret_hash             text        NOT NULL DEFAULT '', -- empty: public client
    grants                  text[]      NOT NULL DEFAULT '{}',
    scopes                  text[]      NOT NULL DEFAULT '{}',
    audience                text[]      NOT NULL DEFAULT '{}',
    -- Lifetimes in milliseconds; 0 means the server default.
    access_token_ttl_ms     bigint      NOT NULL DEFAULT 0 CHECK (access_token_ttl_ms >= 0),
    refresh_idle_ttl_ms     bigint      NOT NULL DEFAULT 0 CHECK (refresh_idle_ttl_ms >= 0),
    refresh_absolute_ttl_ms bigint      NOT NULL DEFAULT 0 CHECK (refresh_absolute_ttl_ms >= 0),
    created_at              timestamptz NOT NULL
);

-- One login session: the chain of refresh tokens rotated from one grant.
CREATE TABLE refresh_families (
    id         text        PRIMARY KEY,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    username   text        NOT NULL,
    scope      text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX refresh_families_user_id_idx ON refresh_families (user_id);
CREATE INDEX refresh_families_client_id_idx ON refresh_families (client_id);

CREATE TABLE refresh_tokens (
    hash            text        PRIMARY KEY, -- hex SHA-256 of the token
    family_id       text        NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    issued_at       timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    consumed_at     timestamptz,
    replaced_by     text
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);

-- The durable access-token denylist.
CREATE TABLE revocations (
    kind       text        NOT NULL CHECK (kind IN ('jti', 'sid', 'sub')),
    value      text        NOT NULL CHECK (value <> ''),
    not_before timestamptz,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX revocations_expires_at_idx ON revocations (expires_at);

CREATE TABLE signing_keys (
    id           text        PRIMARY KEY,
    algorithm    text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    sealed       bytea       NOT NULL, -- AES-GCM sealed by the keys package
    public_jwk   bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    activates_at timestamptz NOT NULL,
    retired_at   timestamptz,
    remove_at    timestamptz,
    -- Index in the list UpdateKeys stored: keys created at the same instant
    -- keep their order.
    position     integer     NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE signing_keys;
DROP TABLE revocations;
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
DROP TABLE clients;
DROP TABLE users;
