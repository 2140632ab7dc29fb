-- DPoP (RFC 9449): a refresh-token family bound to the thumbprint of the
-- login proof's key ('' for unbound), and clients that require proofs.

-- +goose Up
ALTER TABLE refresh_families ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_dpop boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE clients DROP COLUMN require_dpop;
ALTER TABLE refresh_families DROP COLUMN dpop_jkt;
