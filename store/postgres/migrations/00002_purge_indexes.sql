-- Indexes for Purge: finding expired and long-revoked sessions without a
-- full scan.

-- +goose Up
CREATE INDEX refresh_families_expires_at_idx ON refresh_families (expires_at);
CREATE INDEX refresh_families_revoked_at_idx ON refresh_families (revoked_at) WHERE revoked_at IS NOT NULL;

-- +goose Down
DROP INDEX refresh_families_revoked_at_idx;
DROP INDEX refresh_families_expires_at_idx;
