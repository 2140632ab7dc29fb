package tokenserver

import (
	"context"
	"net/http"
	"testing"

	"github.com/tokenserver/tokenserver/store"
)

// A login that read the user just before a credential change must not
// yield tokens: the change commits between the user lookup and the
// session's creation (or, without a refresh token, the confirming read).
func TestPasswordGrantRacingCredentialChange(t *testing.T) {
	changes := []struct {
		name   string
		change func(h *harness) error
	}{
		{"set password", func(h *harness) error {
			return h.mem.SetPassword(context.Background(), aliceID, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", h.clock.Now())
		}},
		{"disable then enable", func(h *harness) error {
			if err := h.mem.SetDisabled(context.Background(), aliceID, true, h.clock.Now()); err != nil {
				return err
			}
			return h.mem.SetDisabled(context.Background(), aliceID, false, h.clock.Now())
		}},
		{"revoke all sessions", func(h *harness) error {
			_, err := h.mem.RevokeUserFamilies(context.Background(), aliceID, h.clock.Now())
			return err
		}},
	}
	clients := []struct {
		name, id, secret string
	}{
		{"with a session", webID, webSecret},
		{"access token only", batchID, batchSecret},
	}
	for _, c := range changes {
		for _, cl := range clients {
			t.Run(c.name+"/"+cl.name, func(t *testing.T) {
				once := false
				h := newHarness(t, func(h *harness, cfg *Config) {
					cfg.Users = stubUsers{UserStore: h.mem, userByName: func(ctx context.Context, name string) (store.User, error) {
						u, err := h.mem.UserByName(ctx, name)
						if err == nil && !once {
							once = true
							// The change commits after this login read the user.
							if err := c.change(h); err != nil {
								t.Errorf("change: %v", err)
							}
						}
						return u, err
					}}
				})
				rec := h.token(formBody("grant_type", "password", "username", aliceName, "password", alicePassword),
					withBasic(cl.id, cl.secret))
				assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidGrant)
				if got := rec.Header().Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
			})
		}
	}
}
