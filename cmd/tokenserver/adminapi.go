package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tokenserver/tokenserver/admin"
	"github.com/tokenserver/tokenserver/admin/adminhttp"
	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/tokenserver"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// withAdminAPI mounts the admin API (/admin/v1/) next to the token
// server's routes on the main listener. It is a resource server of this
// server's own tokens: the verifier reads the JWKS from tokens (in process)
// and revocations from the server's denylist, and only an admin client's
// own client_credentials token with an admin scope gets in.
func withAdminAPI(ctx context.Context, cfg *serveConfig, b *backends, srv *tokenserver.Server, sess *sessions.Service,
	hasher *password.Hasher, km *keys.Manager, now func() time.Time, logger *slog.Logger) (http.Handler, error) {
	tokens := srv.Handler()
	if !cfg.adminAPI {
		return tokens, nil
	}
	// Passwords set through the API meet the default policy (SP 800-63B
	// §3.1.1.2: a minimum length, no composition rules), as the CLI's do.
	svc, err := admin.New(admin.Config{Users: b.users, Clients: b.clients, Refresh: b.refresh,
		Sessions: sess, Hasher: hasher, KeyManager: km, Now: now, CheckPassword: password.Policy{}.Check, Audit: b.audit})
	if err != nil {
		return nil, err
	}
	// The API's audience is the default audience of this server's tokens,
	// so an admin client registered without --audience can call it.
	audience := cfg.issuer
	if len(cfg.audience) > 0 {
		audience = cfg.audience[0]
	}
	v, err := adminhttp.LocalVerifier(ctx, cfg.issuer, audience, tokens, b.revocations, now)
	if err != nil {
		return nil, fmt.Errorf("admin api: %w", err)
	}
	api, err := adminhttp.New(adminhttp.Config{Service: svc, Verifier: v, Logger: logger})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", tokens)
	mux.Handle(adminhttp.Prefix, srv.Instrument(tokenserver.RouteAdmin, api))
	return mux, nil
}
