-- The user model applications need (store.User Email, Attributes, Roles)
-- and the clients' permission to carry roles and attributes in access
-- tokens (store.Client TokenRoles, TokenAttributes). Profile changes do not
-- touch credential_epoch.

-- +goose Up
ALTER TABLE users ADD COLUMN email text CHECK (email <> '');
ALTER TABLE users ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object');
ALTER TABLE users ADD COLUMN roles text[] NOT NULL DEFAULT '{}';
-- Emails are unique case-insensitively among users that have one (NULL
-- never conflicts); UserByEmail uses this index.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email)) WHERE email IS NOT NULL;

ALTER TABLE clients ADD COLUMN token_roles boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN token_attributes text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE clients DROP COLUMN token_attributes;
ALTER TABLE clients DROP COLUMN token_roles;
DROP INDEX users_email_lower_key;
ALTER TABLE users DROP COLUMN roles;
ALTER TABLE users DROP COLUMN attributes;
ALTER TABLE users DROP COLUMN email;
