package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenserver/tokenserver/admin"
	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/tokenserver"
)

func runClient(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "client", args, []subcmd{
		{"add", "CLIENT_ID", "register a client: secret on stdin, or --generate-secret, or --public", clientAdd},
		{"list", "", "list clients (--json for JSON); never shows secrets", clientList},
		{"delete", "CLIENT_ID", "delete a client", clientDelete},
	})
}

func clientAdd(ctx context.Context, e env, args []string) error {
	a := &adminFlags{}
	fs := newFlagSet("client add", "client add CLIENT_ID [flags]   (secret on stdin, or --generate-secret, or --public)", e.stderr)
	a.registerDB(fs)
	var (
		generate, public           bool
		grants                     = listFlag{"password", "refresh_token"}
		scopes, audience           listFlag
		accessTTL, idleTTL, absTTL time.Duration
	)
	fs.BoolVar(&generate, "generate-secret", false, "generate a secret and print it once")
	fs.BoolVar(&public, "public", false, "a public client: authenticates with client_id only")
	fs.Var(&grants, "grants", "allowed grant types, comma-separated")
	fs.Var(&scopes, "scopes", "allowed scopes, comma-separated")
	fs.Var(&audience, "audience", "aud of this client's access tokens, comma-separated (default: the server's --audience)")
	fs.DurationVar(&accessTTL, "client-access-token-ttl", 0, "this client's access token lifetime (0 = server default)")
	fs.DurationVar(&idleTTL, "client-refresh-idle-ttl", 0, "this client's refresh idle lifetime (0 = server default)")
	fs.DurationVar(&absTTL, "client-refresh-absolute-ttl", 0, "this client's refresh absolute lifetime (0 = server default)")
	// Profile claims (user model): only what the registration names.
	var tokenRoles bool
	var tokenAttrs listFlag
	fs.BoolVar(&tokenRoles, "token-roles", false, "put the user's roles in this client's access tokens (the roles claim)")
	fs.Var(&tokenAttrs, "token-attributes", "user attributes to copy into this client's access tokens as claims, comma-separated")
	setFlagOnly(fs, "token-roles", "token-attributes")
	var requireDPoP bool
	fs.BoolVar(&requireDPoP, "require-dpop", false, "refuse this client's token requests without a DPoP proof (RFC 9449)")
	// The client's own settings come from this command line only: read
	// from TOKENSERVER_SCOPES or TOKENSERVER_AUDIENCE they would silently
	// give the client a server's settings when run in a server's pod.
	setFlagOnly(fs, "generate-secret", "public", "grants", "scopes", "audience",
		"client-access-token-ttl", "client-refresh-idle-ttl", "client-refresh-absolute-ttl", "require-dpop")
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return err
	}
	if err := exactArgs(fs, "CLIENT_ID"); err != nil {
		return err
	}
	id := strings.TrimSpace(fs.Arg(0))
	if generate && public {
		return errors.New("--generate-secret and --public exclude each other")
	}
	in := admin.NewClient{ID: id, Public: public, ClientSettings: admin.ClientSettings{
		Grants: grants, Scopes: scopes, Audience: audience,
		AccessTokenTTL: accessTTL, RefreshIdleTTL: idleTTL, RefreshAbsoluteTTL: absTTL, RequireDPoP: requireDPoP},
		TokenRoles: tokenRoles, TokenAttributes: tokenAttrs}
	if err := tokenserver.CheckTokenAttributes(tokenAttrs); err != nil {
		return usageErrorf(fs.Name(), "--token-attributes: %v", err)
	}
	// The service's rules, checked before anything is read or opened.
	if err := admin.ValidateClient(id, public, in.ClientSettings); err != nil {
		return clientFlagError(fs.Name(), err)
	}
	if !public && !generate {
		s, err := readSecretLine(e.stdin, "client secret")
		if err != nil {
			return fmt.Errorf("%w (or use --generate-secret or --public)", err)
		}
		if len(s) < admin.MinClientSecret {
			return fmt.Errorf("client secret too short: at least %d characters of random data (or use --generate-secret)", admin.MinClientSecret)
		}
		in.Secret = s
	}

	b, err := openAdmin(ctx, e, a)
	if err != nil {
		return err
	}
	defer b.Close()
	svc, err := adminService(b, a, keys.Config{})
	if err != nil {
		return err
	}
	_, secret, err := svc.CreateClient(ctx, in)
	if errors.Is(err, admin.ErrExists) {
		return fmt.Errorf("client %q already exists", id)
	}
	if err != nil {
		return clientFlagError(fs.Name(), err)
	}
	fmt.Fprintf(e.stdout, "client %s added\n", id)
	if generate {
		fmt.Fprintf(e.stdout, "client secret (shown once, store it now): %s\n", secret)
	}
	return nil
}

// clientFlagError names the flag of a refused client setting.
func clientFlagError(cmd string, err error) error {
	var ve *admin.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	flag, ok := map[string]string{"grants": "--grants", "scopes": "--scopes", "audience": "--audience",
		"access_token_ttl": "--client-access-token-ttl", "refresh_idle_ttl": "--client-refresh-idle-ttl",
		"refresh_absolute_ttl": "--client-refresh-absolute-ttl"}[ve.Field]
	if !ok {
		return fmt.Errorf("invalid client %s: %s", ve.Field, ve.Detail)
	}
	return usageErrorf(cmd, "%s: %s", flag, ve.Detail)
}

func clientList(ctx context.Context, e env, args []string) error {
	b, asJSON, err := listCommand(ctx, e, "client list", args)
	if err != nil {
		return err
	}
	defer b.Close()
	clients, err := b.clients.ListClients(ctx)
	if err != nil {
		return fmt.Errorf("list clients: %w", err)
	}
	if asJSON {
		return writeJSON(e.stdout, clientListJSON(clients))
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT_ID\tTYPE\tGRANTS\tSCOPES\tAUDIENCE\tCREATED")
	for _, c := range clients {
		typ := "confidential"
		if c.Public() {
			typ = "public"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, typ, strings.Join(c.Grants, ","),
			strings.Join(c.Scopes, ","), strings.Join(c.Audience, ","), c.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func clientDelete(ctx context.Context, e env, args []string) error {
	a := &adminFlags{}
	fs := newFlagSet("client delete", "client delete CLIENT_ID [flags]", e.stderr)
	a.registerDB(fs)
	if err := parseFlags(fs, args, e.getenv); err != nil {
		return err
	}
	if err := exactArgs(fs, "CLIENT_ID"); err != nil {
		return err
	}
	b, err := openAdmin(ctx, e, a)
	if err != nil {
		return err
	}
	defer b.Close()
	svc, err := adminService(b, a, keys.Config{})
	if err != nil {
		return err
	}
	err = svc.DeleteClient(ctx, fs.Arg(0))
	if errors.Is(err, admin.ErrNotFound) {
		return fmt.Errorf("no client %q", fs.Arg(0))
	}
	if err != nil {
		return fmt.Errorf("delete client: %w", err)
	}
	fmt.Fprintf(e.stdout, "client %s deleted\n", fs.Arg(0))
	return nil
}
