-- The `kid` revocation kind: every access token signed by a key is revoked
-- when an emergency rotation unpublishes it (store.RevokeKID).

-- +goose Up
ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check CHECK (kind IN ('jti', 'sid', 'sub', 'kid'));

-- +goose Down
DELETE FROM revocations WHERE kind = 'kid';
ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check CHECK (kind IN ('jti', 'sid', 'sub'));
