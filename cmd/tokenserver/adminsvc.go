package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/tokenserver/tokenserver/admin"
	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/tokenserver"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// adminService returns the admin service a command acts through: the same
// rules as the admin API's. Commands that only write the database have no
// --access-token-ttl; they revoke nothing, so the default sizes nothing.
func adminService(b *backends, a *adminFlags, keyCfg keys.Config, opts ...func(*admin.Config)) (*admin.Service, error) {
	ttl := a.accessTTL
	if ttl <= 0 {
		ttl = tokenserver.DefaultAccessTokenTTL
	}
	sess, err := b.sessions(ttl, time.Now, nil)
	if err != nil {
		return nil, err
	}
	hasher, err := password.NewHasher(password.Config{MaxConcurrent: 1})
	if err != nil {
		return nil, err
	}
	cfg := admin.Config{Users: b.users, Clients: b.clients, Refresh: b.refresh,
		Sessions: sess, Hasher: hasher, Keys: keyCfg, Audit: b.audit, Actor: audit.ActorCLI}
	for _, o := range opts {
		o(&cfg)
	}
	return admin.New(cfg)
}

// cliError turns an admin service error into the CLI's one-line message.
func cliError(err error) error {
	var ve *admin.ValidationError
	if errors.As(err, &ve) {
		return fmt.Errorf("invalid %s %s", ve.Field, ve.Detail)
	}
	return err
}

// withPasswordPolicy makes the admin service check new passwords against
// policy (the same rule for the CLI and the API).
func withPasswordPolicy(policy password.Policy) func(*admin.Config) {
	return func(c *admin.Config) { c.CheckPassword = policy.Check }
}
