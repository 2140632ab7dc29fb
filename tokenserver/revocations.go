package tokenserver

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/feedwire"
)

// handleRevocations serves the active denylist for resource servers that
// poll or bootstrap (GET /revocations).
func (s *Server) handleRevocations(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if _, err := s.authenticateBasicClient(ctx, r); err != nil {
		return err
	}
	body, err := s.activeRevocationsJSON(ctx, s.now())
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setNoStore(h)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// activeRevocationsJSON encodes every revocation active at now.
func (s *Server) activeRevocationsJSON(ctx context.Context, now time.Time) ([]byte, error) {
	active, err := s.cfg.Revocations.Active(ctx, now)
	if err != nil {
		return nil, storeErr("active revocations", err)
	}
	// The wire format (store/feedwire) is not the store's type: what
	// resource servers parse changes only on purpose.
	return json.Marshal(feedwire.SnapshotOf(active))
}

// authenticateBasicClient authenticates the caller of a GET endpoint: a
// confidential client with HTTP Basic (RFC 6749 §2.3.1), the only method
// a GET can carry. Failures are the token endpoint's invalid_client; on a
// GET it is always 401 with WWW-Authenticate (see httpStatus).
//
// The denylist holds user IDs and session IDs, so it is served only to
// authenticated confidential clients (the resource servers).
func (s *Server) authenticateBasicClient(ctx context.Context, r *http.Request) (store.Client, error) {
	if r.Header.Get("Authorization") == "" {
		s.emitClientAuthFailed(ctx, r, audit.ReasonNoCredentials, nil)
		return store.Client{}, newError(CodeInvalidClient, "client authentication required", nil)
	}
	// An empty form: a GET has no body, and credentials in the query
	// string are never honoured.
	return s.authenticateConfidentialClient(ctx, r, form{})
}

// wrapGet renders the error of a GET handler.
func (s *Server) wrapGet(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}
