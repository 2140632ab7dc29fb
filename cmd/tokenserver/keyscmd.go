package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tokenserver/tokenserver/keys"
)

func runKeys(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "keys", args, map[string]func(context.Context, env, []string) error{
		"list":   keysList,
		"rotate": keysRotate,
	}, "list|rotate [--now] [flags]")
}

// keysFlags are the admin flags plus the key-lifecycle settings, which must
// match the servers' so the CLI computes the same activation times.
type keysFlags struct {
	admin      adminFlags
	signingAlg string
	maxAge     time.Duration
}

func openKeyManager(ctx context.Context, e env, name string, args []string, extra func(*flag.FlagSet)) (*keys.Manager, *backends, keysFlags, error) {
	var k keysFlags
	fs := newFlagSet("keys "+name, "keys "+name+" [flags]", e.stderr)
	k.admin.register(fs)
	fs.StringVar(&k.signingAlg, "signing-alg", "ES256", "signing algorithm (as configured on the servers)")
	fs.DurationVar(&k.maxAge, "jwks-max-age", 10*time.Minute, "JWKS max-age (as configured on the servers)")
	if extra != nil {
		extra(fs)
	}
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return nil, nil, k, err
	}
	b, err := openAdmin(ctx, e, &k.admin)
	if err != nil {
		return nil, nil, k, err
	}
	sealer, err := k.admin.store.sealer()
	if err != nil {
		b.Close()
		return nil, nil, k, err
	}
	m, err := keys.NewManager(ctx, keys.Config{
		Store: b.keys, Sealer: sealer, Algorithm: k.signingAlg, MaxAge: k.maxAge,
		MaxTokenTTL: k.admin.accessTTL, Now: time.Now,
	})
	if err != nil {
		b.Close()
		return nil, nil, k, fmt.Errorf("signing keys: %w", err)
	}
	return m, b, k, nil
}

func keysList(ctx context.Context, e env, args []string) error {
	m, b, _, err := openKeyManager(ctx, e, "list", args, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	return printKeys(e, m)
}

func printKeys(e env, m *keys.Manager) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATES\tRETIRED\tREMOVED")
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range m.Keys() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State,
			ts(k.CreatedAt), ts(k.ActivatesAt), ts(k.RetiredAt), ts(k.RemoveAt))
	}
	return tw.Flush()
}

func keysRotate(ctx context.Context, e env, args []string) error {
	var now bool
	m, b, k, err := openKeyManager(ctx, e, "rotate", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&now, "now", false, "emergency rotation (a leaked key): retire and unpublish the current key at once, and revoke its tokens on every resource server through the revocation feed")
	})
	if err != nil {
		return err
	}
	defer b.Close()
	if !now {
		if err := m.Rotate(ctx); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		return printKeys(e, m)
	}
	kids, err := m.RotateNowKIDs(ctx)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	if err := printKeys(e, m); err != nil {
		return err
	}
	// Only after the rotation has committed: revoking first would refuse
	// the tokens of a key the servers still sign with.
	sess, err := adminSessions(b, &k.admin)
	if err != nil {
		return err
	}
	for _, kid := range kids {
		if err := sess.RevokeSigningKey(ctx, kid, k.maxAge); err != nil {
			return fmt.Errorf("rotate: the keys were rotated and unpublished, but resource servers were not told to stop trusting key %s "+
				"(they will when their cached JWKS expires, within %s): %w", kid, k.maxAge, err)
		}
		fmt.Fprintf(e.stdout, "revoked every token of key %s on resource servers (kid revocation)\n", kid)
	}
	return nil
}
