package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// importer is the state of one `user import`: where users go and what was
// done. sessions is set with --upsert only.
type importer struct {
	b        *backends
	sessions *sessions.Service

	created, updated, unchanged, revoked int
}

// openImportInput opens the import file, or stdin for "-", and names it for
// messages.
func openImportInput(e env, file string) (io.ReadCloser, string, error) {
	if file == "-" {
		return io.NopCloser(e.stdin), "stdin", nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, "", fmt.Errorf("import: %w", err)
	}
	return f, file, nil
}

// importedHash converts a line's hash to the stored form: a Keycloak
// credential, bcrypt over password+salt, or any form of password.Import.
func importedHash(in importLine) (string, error) {
	switch {
	case len(in.Keycloak) > 0 && (in.Hash != "" || in.Salt != ""):
		return "", errors.New("keycloak excludes hash and salt")
	case len(in.Keycloak) > 0:
		return password.Keycloak(in.Keycloak)
	case in.Hash == "":
		return "", errors.New("no hash (give hash or keycloak)")
	case in.Salt != "":
		return password.SaltedBcrypt(in.Salt, in.Hash)
	}
	hash, err := password.Import(in.Hash)
	if err != nil {
		return "", fmt.Errorf("unsupported or malformed hash (argon2id PHC, bcrypt $2a$/$2b$/$2y$, Django pbkdf2_sha256$…): %w", err)
	}
	return hash, nil
}

// update gives an existing user the imported hash and disabled flag. A new
// hash is a credential change and goes through the session service, which
// ends the user's sessions; the same hash again changes nothing, so running
// an import twice is harmless. A user to be disabled is disabled before the
// hash changes and one to be enabled after, so that a failure in between
// never leaves the account enabled with a credential the import meant to
// replace.
func (imp *importer) update(ctx context.Context, name, hash string, disabled bool) error {
	u, err := imp.b.users.UserByName(ctx, name)
	if err != nil {
		return fmt.Errorf("find user %q: %w", name, err)
	}
	steps := []func() (int, error){}
	setDisabled := func() (int, error) { return imp.sessions.SetDisabled(ctx, u.ID, disabled) }
	if disabled && !u.Disabled {
		steps = append(steps, setDisabled)
	}
	if hash != u.PasswordHash {
		steps = append(steps, func() (int, error) { return imp.sessions.SetPassword(ctx, u.ID, hash) })
	}
	if !disabled && u.Disabled {
		steps = append(steps, setDisabled)
	}
	if len(steps) == 0 {
		imp.unchanged++
		return nil
	}
	for _, step := range steps {
		n, err := step()
		if err != nil {
			return fmt.Errorf("update user %q: %w", name, err)
		}
		imp.revoked += n
	}
	imp.updated++
	return nil
}
