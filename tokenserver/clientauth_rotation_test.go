package tokenserver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// During a secret rotation's overlap window both the new and the previous
// secret authenticate the client; from PreviousSecretExpiresAt on only the
// new one does.
func TestClientSecretRotationOverlap(t *testing.T) {
	const (
		rotatedID = "rotated-app"
		newSecret = "new-secret-0123456789abcdefghijklmnopqrstuvwxyz"
		oldSecret = "old-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	)
	login := formBody("grant_type", "password", "username", aliceName, "password", alicePassword)
	window := time.Hour
	for _, tc := range []struct {
		name       string
		secret     string
		after      time.Duration // clock advance after the rotation
		wantStatus int
	}{
		{"NewSecretInWindow", newSecret, 0, http.StatusOK},
		{"OldSecretInWindow", oldSecret, window - time.Nanosecond, http.StatusOK},
		{"OldSecretAtWindowEnd", oldSecret, window, http.StatusUnauthorized},
		{"NewSecretAfterWindow", newSecret, 2 * window, http.StatusOK},
		{"OtherSecretInWindow", "neither-" + newSecret, 0, http.StatusUnauthorized},
		{"EmptySecretInWindow", "", 0, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(h *harness, c *Config) { c.ClientCacheTTL = -1 })
			now := h.clock.Now()
			err := h.mem.CreateClient(context.Background(), store.Client{
				ID: rotatedID, SecretHash: HashClientSecret(newSecret),
				Grants: []string{grantPassword}, Scopes: []string{"read"}, CreatedAt: now,
				PreviousSecretHash: HashClientSecret(oldSecret), PreviousSecretExpiresAt: now.Add(window),
			})
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(tc.after)
			rec := h.token(login, withBasic(rotatedID, tc.secret))
			if tc.wantStatus == http.StatusOK {
				assertTokenResponse(t, rec)
				return
			}
			assertOAuthError(t, rec, tc.wantStatus, CodeInvalidClient)
			if got := rec.Header().Get("WWW-Authenticate"); got != `Basic realm="tokenserver"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
}
