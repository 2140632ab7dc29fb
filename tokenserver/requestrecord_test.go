package tokenserver

import (
	"context"
	"net/http"
	"sync"
	"testing"
)

// recordingHarness is a harness whose server hands its RequestRecords to
// the returned function.
func recordingHarness(t *testing.T) (*harness, func() []RequestRecord) {
	var mu sync.Mutex
	var recs []RequestRecord
	h := newHarness(t, func(_ *harness, c *Config) {
		c.OnRequest = func(_ context.Context, rec RequestRecord) {
			mu.Lock()
			defer mu.Unlock()
			recs = append(recs, rec)
		}
	})
	return h, func() []RequestRecord {
		mu.Lock()
		defer mu.Unlock()
		out := recs
		recs = nil
		return out
	}
}

func TestRequestRecords(t *testing.T) {
	tests := []struct {
		name string
		send func(h *harness)
		want RequestRecord
	}{
		{
			name: "password grant",
			send: func(h *harness) { h.login("") },
			want: RequestRecord{Route: RouteToken, Method: http.MethodPost, Status: http.StatusOK,
				GrantType: grantPassword, ClientID: webID},
		},
		{
			name: "wrong password",
			send: func(h *harness) {
				h.token(formBody("grant_type", "password", "username", aliceName, "password", "nope"), withBasic(webID, webSecret))
			},
			want: RequestRecord{Route: RouteToken, Method: http.MethodPost, Status: http.StatusBadRequest,
				GrantType: grantPassword, ClientID: webID, Error: CodeInvalidGrant},
		},
		{
			name: "wrong client secret records no client",
			send: func(h *harness) {
				h.token(formBody("grant_type", "password", "username", aliceName, "password", alicePassword), withBasic(webID, "nope"))
			},
			want: RequestRecord{Route: RouteToken, Method: http.MethodPost, Status: http.StatusUnauthorized,
				GrantType: grantPassword, Error: CodeInvalidClient},
		},
		{
			name: "unknown grant type is one label",
			send: func(h *harness) {
				h.token(formBody("grant_type", "urn:example:made-up"), withBasic(webID, webSecret))
			},
			want: RequestRecord{Route: RouteToken, Method: http.MethodPost, Status: http.StatusBadRequest,
				GrantType: GrantOther, ClientID: webID, Error: CodeUnsupportedGrantType},
		},
		{
			name: "wrong method at the token endpoint",
			send: func(h *harness) { h.do(http.MethodGet, "/token", "") },
			want: RequestRecord{Route: RouteToken, Method: http.MethodGet, Status: http.StatusMethodNotAllowed},
		},
		{
			name: "jwks",
			send: func(h *harness) { h.do(http.MethodGet, "/.well-known/jwks.json", "") },
			want: RequestRecord{Route: RouteJWKS, Method: http.MethodGet, Status: http.StatusOK},
		},
		{
			name: "unknown path",
			send: func(h *harness) { h.do(http.MethodGet, "/nope/\xff", "") },
			want: RequestRecord{Route: RouteOther, Method: http.MethodGet, Status: http.StatusNotFound},
		},
		{
			name: "wrong method on a GET route",
			send: func(h *harness) { h.do(http.MethodDelete, "/healthz", "") },
			want: RequestRecord{Route: RouteOther, Method: http.MethodDelete, Status: http.StatusMethodNotAllowed},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, take := recordingHarness(t)
			take() // fixtures
			tt.send(h)
			recs := take()
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1: %+v", len(recs), recs)
			}
			got := recs[0]
			if got.Duration <= 0 {
				t.Errorf("Duration = %v, want > 0", got.Duration)
			}
			got.Duration = 0
			if got != tt.want {
				t.Errorf("record = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}
