-- Client secret rotation with an overlap window (the admin API): the
-- replaced secret's hash keeps authenticating the client until
-- previous_secret_expires_at. An index on users for the admin API's
-- username-ordered pages and prefix filter.

-- +goose Up
ALTER TABLE clients ADD COLUMN previous_secret_hash text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN previous_secret_expires_at timestamptz;
CREATE INDEX users_username_lower_c_idx ON users ((lower(username)) COLLATE "C");

-- +goose Down
DROP INDEX users_username_lower_c_idx;
ALTER TABLE clients DROP COLUMN previous_secret_expires_at;
ALTER TABLE clients DROP COLUMN previous_secret_hash;
