package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/tokenserver/username"
)

const (
	joseID       = "00000000-0000-4000-8000-00000000105e"
	joseNFC      = "jos\u00e9"
	joseNFD      = "jose\u0301"
	josePassword = "jose-password-123"
)

// withJose adds a user stored the way the CLI stores one: normalized.
func withJose(h *harness, _ *Config) {
	name, err := username.Normalize(joseNFD)
	if err != nil {
		h.t.Fatal(err)
	}
	h.addUser(joseID, name, josePassword, false)
}

// Every spelling of one name that PRECIS UsernameCaseMapped (RFC 8265)
// maps to the same string logs in to the same account.
func TestPasswordGrantUsernameLookAlikes(t *testing.T) {
	for _, name := range []string{joseNFC, joseNFD, "JOS\u00c9", "JOSE\u0301", "\uff2a\uff2f\uff33\u00c9"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, withJose)
			tok := h.mustToken(h.token(loginBody(name, josePassword), withBasic(webID, webSecret)))
			if c := h.claims(tok.AccessToken); c["sub"] != joseID || c["username"] != joseNFC {
				t.Errorf("sub %v username %q, want %s %q", c["sub"], c["username"], joseID, joseNFC)
			}
		})
	}
}

// The two spellings are one account on the store as well: the second is a
// conflict once both are normalized (what the CLI does before CreateUser).
func TestNormalizedUsernamesCollideInMemoryStore(t *testing.T) {
	h := newHarness(t, withJose)
	name, err := username.Normalize(joseNFC)
	if err != nil {
		t.Fatal(err)
	}
	err = h.mem.CreateUser(context.Background(), store.User{ID: "00000000-0000-4000-8000-000000000002", Username: name, PasswordHash: "x"})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateUser(NFC) after NFD = %v, want ErrConflict", err)
	}
}

// Failed logins under any spelling count against one (username, IP)
// counter, so look-alikes do not multiply the guesses allowed.
func TestPasswordGrantThrottleSharedByLookAlikes(t *testing.T) {
	h := newHarness(t, withJose)
	spellings := []string{joseNFD, "JOS\u00c9", "\uff2a\uff2f\uff33\u00c9", "Jose\u0301", joseNFC}
	for i := range defaultUserFailures {
		rec := h.token(loginBody(spellings[i%len(spellings)], "wrong"), withBasic(webID, webSecret))
		assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidGrant)
	}
	rec := h.token(loginBody(joseNFC, josePassword), withBasic(webID, webSecret))
	assertOAuthError(t, rec, http.StatusTooManyRequests, CodeTemporarilyUnavailable)
}

// A name PRECIS refuses is invalid_request: no password hash, no throttle
// entry, and an answer that depends on the string alone.
func TestPasswordGrantRefusedUsername(t *testing.T) {
	for _, name := range []string{
		"ali\u200bce",  // zero-width space
		"ali\u0007ce",  // control character
		"\u2163",       // ROMAN NUMERAL FOUR
		" alice",       // empty userpart
		"alice  smith", // empty userpart
		"ali\u202ece",  // bidi override
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			hashing := h.countHashing()
			rec := h.token(loginBody(name, alicePassword), withBasic(webID, webSecret))
			assertOAuthError(t, rec, http.StatusBadRequest, CodeInvalidRequest)
			if n := hashing.calls.Load(); n != 0 {
				t.Errorf("%d hash computations for a refused username", n)
			}
			// The per-IP counter with a limit of one: blocked after a
			// single recorded failure.
			ipKey := h.srv.loginThrottleKeys("x", grantRequest{clientIP: parseHostAddr("192.0.2.1:1234")})[1]
			ipKey.Limit = 1
			if wait, err := h.mem.Reserve(context.Background(), []store.ThrottleKey{ipKey}); err != nil || wait != 0 {
				t.Errorf("a failed login was recorded for a refused username (wait %v, %v)", wait, err)
			}
		})
	}
}

// A user stored before normalization in mixed case (the harness's "Alice")
// still logs in: lookups are case-insensitive and the ASCII name's
// normalized form is its lower case.
func TestPasswordGrantLegacyMixedCaseUser(t *testing.T) {
	for _, name := range []string{"Alice", "alice", "ALICE"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			assertTokenResponse(t, h.token(loginBody(name, alicePassword), withBasic(webID, webSecret)))
		})
	}
}
