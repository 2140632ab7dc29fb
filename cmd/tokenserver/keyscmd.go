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
	return subcommand(ctx, e, "keys", args, []subcmd{
		{"list", "", "list the signing keys and their lifecycle (--json for JSON); changes nothing", keysList},
		{"rotate", "[--now]", "promote the next key (planned), or with --now retire a leaked key at once", keysRotate},
	})
}

// keysFlags are the admin flags plus the key-lifecycle settings, which must
// match the servers' so the CLI computes the same activation times.
type keysFlags struct {
	admin      adminFlags
	signingAlg string
	maxAge     time.Duration
}

// parseKeysFlags parses a keys subcommand's flags and opens the backends.
func parseKeysFlags(ctx context.Context, e env, name string, args []string, extra func(*flag.FlagSet)) (*backends, keysFlags, *keys.Sealer, error) {
	var k keysFlags
	fs := newFlagSet("keys "+name, "keys "+name+" [flags]", e.stderr)
	k.admin.register(fs)
	k.admin.store.registerKEK(fs)
	fs.StringVar(&k.signingAlg, "signing-alg", keys.DefaultAlgorithm, "signing algorithm (as configured on the servers)")
	fs.DurationVar(&k.maxAge, "jwks-max-age", keys.DefaultMaxAge, "JWKS max-age (as configured on the servers)")
	if extra != nil {
		extra(fs)
	}
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return nil, k, nil, err
	}
	if err := exactArgs(fs); err != nil {
		return nil, k, nil, err
	}
	b, err := openAdmin(ctx, e, &k.admin)
	if err != nil {
		return nil, k, nil, err
	}
	sealer, err := k.admin.store.sealer()
	if err != nil {
		b.Close()
		return nil, k, nil, err
	}
	return b, k, sealer, nil
}

func (k *keysFlags) config(b *backends, sealer *keys.Sealer) keys.Config {
	return keys.Config{
		Store: b.keys, Sealer: sealer, Algorithm: k.signingAlg, MaxAge: k.maxAge,
		MaxTokenTTL: k.admin.accessTTL, Now: time.Now, Audit: b.audit,
	}
}

// keysList reads the set without changing it: keys.List creates no key,
// even on an empty database (listing must be safe to run anywhere).
func keysList(ctx context.Context, e env, args []string) error {
	var asJSON *bool
	b, k, sealer, err := parseKeysFlags(ctx, e, "list", args, func(fs *flag.FlagSet) { asJSON = jsonFlag(fs) })
	if err != nil {
		return err
	}
	defer b.Close()
	list, err := keys.List(ctx, k.config(b, sealer))
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if *asJSON {
		return writeJSON(e.stdout, keyListJSON(list))
	}
	return printKeys(e, list)
}

func printKeys(e env, list []keys.KeyInfo) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATES\tRETIRED\tREMOVED")
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State,
			ts(k.CreatedAt), ts(k.ActivatesAt), ts(k.RetiredAt), ts(k.RemoveAt))
	}
	return tw.Flush()
}

func keysRotate(ctx context.Context, e env, args []string) error {
	var now bool
	b, k, sealer, err := parseKeysFlags(ctx, e, "rotate", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&now, "now", false, "emergency rotation (a leaked key): retire and unpublish the current key at once, and revoke its tokens on every resource server through the revocation feed")
		setFlagOnly(fs, "now") // an emergency is never inherited from the environment
	})
	if err != nil {
		return err
	}
	defer b.Close()
	svc, err := adminService(b, &k.admin, k.config(b, sealer))
	if err != nil {
		return err
	}
	res, err := svc.RotateKeys(ctx, now)
	if res.Keys != nil {
		if perr := printKeys(e, res.Keys); perr != nil {
			return perr
		}
	}
	for _, kid := range res.RevokedKIDs {
		fmt.Fprintf(e.stdout, "revoked every token of key %s on resource servers (kid revocation)\n", kid)
	}
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	return nil
}
