// Package memory is the embedded default store: every storage capability of
// tokenserver kept in process memory behind one lock. It suits a single
// instance and tests; nothing survives a restart.
//
// All data lives behind one sync.RWMutex, so every method is atomic with
// respect to every other. Values are copied in and out: callers never share
// a slice with the store.
//
// Usernames are unique case-insensitively: the index key is
// strings.ToLower(username) (simple Unicode case folding, no
// normalisation), while the username itself is stored as given.
package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Compile-time proof that Store implements every capability it promises.
var (
	_ store.UserStore         = (*Store)(nil)
	_ store.ClientStore       = (*Store)(nil)
	_ store.RefreshTokenStore = (*Store)(nil)
	_ store.RevocationStore   = (*Store)(nil)
	_ store.RevocationFeed    = (*Store)(nil)
	_ store.LoginThrottle     = (*Store)(nil)
	_ store.KeyStore          = (*Store)(nil)
	_ store.RevocationLog     = (*Store)(nil)
	_ store.TokenLifetimes    = (*Store)(nil)
)

// Store is an in-memory implementation of the store interfaces. The zero
// value is not usable; call New.
type Store struct {
	now func() time.Time

	mu sync.RWMutex
	// users by ID, and user IDs by strings.ToLower(username).
	users       map[string]store.User
	userByName  map[string]string
	userByEmail map[string]string // user IDs by store.EmailKey(email), for users with one
	clients     map[string]store.Client
	families    map[string]store.RefreshFamily
	// tokens by hash, and every token hash of a family (for deletion).
	tokens        map[string]store.RefreshToken
	familyTokens  map[string][]string
	revocations   map[revocationKey]store.Revocation
	revocationSeq map[revocationKey]int64 // position in the log of each entry's last change
	lastSeq       int64                   // the newest position handed out
	revokeWrites  int                     // Revoke calls since the last sweep of expired entries
	accessTTLs    map[time.Duration]time.Time

	subscribers   map[*subscriber]struct{}
	throttle      map[string]throttleEntry
	throttleSwept int // len(throttle) after the last sweep
	keys          []store.SigningKey

	// keysUpdate serialises UpdateKeys so fn runs without holding mu: key
	// generation (RSA in particular) can be slow and must not stall logins.
	keysUpdate sync.Mutex
}

// New returns an empty store that reads the clock from now (time.Now when
// nil). The clock is used where the contract passes no time: dropping
// expired revocations and login-throttle windows.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:           now,
		users:         make(map[string]store.User),
		userByName:    make(map[string]string),
		userByEmail:   make(map[string]string),
		clients:       make(map[string]store.Client),
		families:      make(map[string]store.RefreshFamily),
		tokens:        make(map[string]store.RefreshToken),
		familyTokens:  make(map[string][]string),
		revocations:   make(map[revocationKey]store.Revocation),
		revocationSeq: make(map[revocationKey]int64),
		accessTTLs:    make(map[time.Duration]time.Time),
		subscribers:   make(map[*subscriber]struct{}),
		throttle:      make(map[string]throttleEntry),
	}
}

// live returns ctx's error, wrapped, if ctx has ended: a cancelled request
// should not change anything.
func live(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return nil
}

// cloneStrings copies s so the store and its callers never share a backing
// array. nil stays nil.
func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// cloneBytes copies b; nil stays nil.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
