package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver"
)

// minClientSecret is the shortest secret `client add` accepts from stdin.
// Client secrets are stored as SHA-256 (they are machine secrets, not human
// passwords), which is only safe for high-entropy secrets.
const minClientSecret = 32

// supportedGrants are the grant types a client may be registered for.
var supportedGrants = []string{"password", "refresh_token", "client_credentials"}

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
	// The client's own settings come from this command line only: read
	// from TOKENSERVER_SCOPES or TOKENSERVER_AUDIENCE they would silently
	// give the client a server's settings when run in a server's pod.
	setFlagOnly(fs, "generate-secret", "public", "grants", "scopes", "audience",
		"client-access-token-ttl", "client-refresh-idle-ttl", "client-refresh-absolute-ttl")
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
	for _, g := range grants {
		if !slices.Contains(supportedGrants, g) {
			return fmt.Errorf("--grants: unsupported grant type %q (supported: %s)", g, strings.Join(supportedGrants, ", "))
		}
	}
	if slices.Contains(grants, "client_credentials") {
		// RFC 6749 §4.4: only confidential clients may use it (the server
		// refuses a public one anyway; saying so here saves a surprise).
		if public {
			return errors.New("--grants client_credentials needs a confidential client: drop --public")
		}
		// Its tokens' sub is the client id; user ids are UUIDs, so a user's
		// sub revocation could deny them (the server refuses it too).
		if tokenserver.UserIDShaped(id) {
			return fmt.Errorf("client id %q has the form of a user id (a UUID); a client_credentials client needs another", id)
		}
	}
	for _, s := range scopes {
		// The token endpoint's rule: a scope it could never grant is refused here.
		if !tokenserver.ValidScopeToken(s) {
			return usageErrorf(fs.Name(), "--scopes: invalid scope %q (RFC 6749 §3.3: printable ASCII, no space, quote or backslash)", s)
		}
	}
	if err := tokenserver.CheckTokenAttributes(tokenAttrs); err != nil {
		return usageErrorf(fs.Name(), "--token-attributes: %v", err)
	}
	if accessTTL < 0 || idleTTL < 0 || absTTL < 0 {
		return errors.New("client lifetimes must not be negative")
	}

	var secret, secretHash string
	switch {
	case public:
	case generate:
		b, err := randomBytes(32)
		if err != nil {
			return err
		}
		secret = base64.RawURLEncoding.EncodeToString(b)
		secretHash = tokenserver.HashClientSecret(secret)
	default:
		s, err := readSecretLine(e.stdin, "client secret")
		if err != nil {
			return fmt.Errorf("%w (or use --generate-secret or --public)", err)
		}
		if len(s) < minClientSecret {
			return fmt.Errorf("client secret too short: at least %d characters of random data (or use --generate-secret)", minClientSecret)
		}
		secretHash = tokenserver.HashClientSecret(s)
	}

	b, err := openAdmin(ctx, e, a)
	if err != nil {
		return err
	}
	defer b.Close()
	err = b.clients.CreateClient(ctx, store.Client{
		ID: id, SecretHash: secretHash, Grants: grants, Scopes: scopes, Audience: audience,
		AccessTokenTTL: accessTTL, RefreshIdleTTL: idleTTL, RefreshAbsoluteTTL: absTTL,
		CreatedAt:  time.Now(),
		TokenRoles: tokenRoles, TokenAttributes: tokenAttrs,
	})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("client %q already exists", id)
	}
	if err != nil {
		return fmt.Errorf("add client: %w", err)
	}
	fmt.Fprintf(e.stdout, "client %s added\n", id)
	if secret != "" {
		fmt.Fprintf(e.stdout, "client secret (shown once, store it now): %s\n", secret)
	}
	return nil
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
	err = b.clients.DeleteClient(ctx, fs.Arg(0))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no client %q", fs.Arg(0))
	}
	if err != nil {
		return fmt.Errorf("delete client: %w", err)
	}
	fmt.Fprintf(e.stdout, "client %s deleted\n", fs.Arg(0))
	return nil
}
