// Package adminhttp serves the admin API (/admin/v1/), a JSON front end of
// package admin described by openapi.json. It is a resource server of the
// token server's own access tokens, checked with package verifier.
package adminhttp

import (
	_ "embed"
	"errors"
	"log/slog"
	"net/http"

	"github.com/tokenserver/tokenserver/admin"
	"github.com/tokenserver/tokenserver/verifier"
)

// Prefix is the path every route of the API starts with.
const Prefix = "/admin/v1/"

// OpenAPI is the API's OpenAPI document, served at Prefix+"openapi.json".
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns a copy of the OpenAPI document.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Config configures the handler.
type Config struct {
	Service *admin.Service
	// Verifier checks bearer tokens: the token server's own issuer, with the
	// API's audience and a revocation checker. Required: there is no other
	// way in.
	Verifier *verifier.Verifier
	Logger   *slog.Logger
}

type handler struct {
	svc      *admin.Service
	verifier *verifier.Verifier
	logger   *slog.Logger
}

// New returns the API's handler; mount it at Prefix.
func New(cfg Config) (http.Handler, error) {
	if cfg.Service == nil || cfg.Verifier == nil {
		return nil, errors.New("adminhttp: Service and Verifier are required")
	}
	h := &handler{svc: cfg.Service, verifier: cfg.Verifier, logger: cfg.Logger}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(openAPI)
	})
	route := func(pattern, area string, fn func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			actor, err := h.authorize(r, area)
			if err == nil {
				// The admin client's id is who acts, in the admin.* audit
				// events.
				err = fn(w, r.WithContext(admin.WithActor(r.Context(), actor)))
			}
			if err != nil {
				writeProblem(w, r, h.logger, err)
			}
		})
	}
	route("POST "+Prefix+"users", ScopeUsers, h.createUser)
	route("GET "+Prefix+"users", ScopeUsers, h.listUsers)
	route("GET "+Prefix+"users/{id}", ScopeUsers, h.getUser)
	route("PATCH "+Prefix+"users/{id}", ScopeUsers, h.updateUser)
	route("DELETE "+Prefix+"users/{id}", ScopeUsers, h.deleteUser)
	route("PUT "+Prefix+"users/{id}/password", ScopeUsers, h.setPassword)
	route("POST "+Prefix+"users/{id}/disable", ScopeUsers, h.setDisabled(true))
	route("POST "+Prefix+"users/{id}/enable", ScopeUsers, h.setDisabled(false))
	route("GET "+Prefix+"users/{id}/sessions", ScopeUsers, h.listSessions)
	route("DELETE "+Prefix+"users/{id}/sessions", ScopeUsers, h.endSessions)
	route("DELETE "+Prefix+"users/{id}/sessions/{sid}", ScopeUsers, h.revokeSession)

	route("POST "+Prefix+"clients", ScopeClients, h.createClient)
	route("GET "+Prefix+"clients", ScopeClients, h.listClients)
	route("GET "+Prefix+"clients/{id}", ScopeClients, h.getClient)
	route("PUT "+Prefix+"clients/{id}", ScopeClients, h.updateClient)
	route("DELETE "+Prefix+"clients/{id}", ScopeClients, h.deleteClient)
	route("POST "+Prefix+"clients/{id}/secret", ScopeClients, h.rotateSecret)

	route("GET "+Prefix+"keys", ScopeKeys, h.listKeys)
	route("POST "+Prefix+"keys/rotate", ScopeKeys, h.rotateKeys)

	// Everything else under the prefix: a problem, not the default 404 text.
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, h.logger, newProblem(http.StatusNotFound, TypeNotFound, "Not found", "no such resource"))
	})
	return mux, nil
}
