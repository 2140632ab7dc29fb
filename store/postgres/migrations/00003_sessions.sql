-- Sessions that cannot outlive a credential change, a durable revocation
-- log every instance relays from, and the access-token lifetimes servers
-- run with.

-- +goose Up
-- Incremented by every change that ends the user's sessions (new password,
-- disable, enable, revoke-all); a family lives only while its user_epoch is
-- the user's credential_epoch.
ALTER TABLE users ADD COLUMN credential_epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE refresh_families ADD COLUMN user_epoch bigint NOT NULL DEFAULT 0;

-- Every Revoke takes the next seq while holding a transaction-level
-- advisory lock, so seq order is commit order: a relay that has read up to
-- seq N has seen every change committed before N.
CREATE SEQUENCE revocations_seq;
ALTER TABLE revocations ADD COLUMN seq bigint NOT NULL DEFAULT nextval('revocations_seq');
CREATE INDEX revocations_seq_idx ON revocations (seq);

-- One row per access-token lifetime a server was started with, and when it
-- last said so: revocations written by the CLI size themselves from this.
CREATE TABLE access_token_ttls (
    ttl_ms    bigint      PRIMARY KEY CHECK (ttl_ms > 0),
    last_seen timestamptz NOT NULL
);

-- +goose Down
DROP TABLE access_token_ttls;
DROP INDEX revocations_seq_idx;
ALTER TABLE revocations DROP COLUMN seq;
DROP SEQUENCE revocations_seq;
ALTER TABLE refresh_families DROP COLUMN user_epoch;
ALTER TABLE users DROP COLUMN credential_epoch;
