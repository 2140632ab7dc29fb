package sessions_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/audit/audittest"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
)

// fixture is one memory store holding a user with a live session, and a
// service over it on a fixed clock.
type fixture struct {
	mem  *memory.Store
	svc  *sessions.Service
	now  time.Time
	user store.User
	tok  store.RefreshToken
	// events records what the service emitted.
	events *audittest.Recorder
}

const userID = "00000000-0000-4000-8000-0000000000a1"

func newFixture(t *testing.T, clientTTL time.Duration) *fixture {
	t.Helper()
	fx := &fixture{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), events: &audittest.Recorder{}}
	clock := func() time.Time { return fx.now }
	fx.mem = memory.New(clock)
	ctx := t.Context()
	if err := fx.mem.CreateClient(ctx, store.Client{ID: "app", Grants: []string{"password", "refresh_token"},
		AccessTokenTTL: clientTTL, CreatedAt: fx.now}); err != nil {
		t.Fatal(err)
	}
	fx.user = store.User{ID: userID, Username: "alice", PasswordHash: "$argon2id$old", CreatedAt: fx.now}
	if err := fx.mem.CreateUser(ctx, fx.user); err != nil {
		t.Fatal(err)
	}
	fx.tok = store.RefreshToken{Hash: "h1", IssuedAt: fx.now, IdleExpiresAt: fx.now.Add(time.Hour)}
	if err := fx.mem.CreateFamily(ctx, store.RefreshFamily{ID: "fam1", ClientID: "app", UserID: userID,
		Username: "alice", Scope: "read", CreatedAt: fx.now, ExpiresAt: fx.now.Add(24 * time.Hour)}, fx.tok); err != nil {
		t.Fatal(err)
	}
	svc, err := sessions.New(sessions.Config{Users: fx.mem, Refresh: fx.mem, Revocations: fx.mem, Feed: fx.mem,
		Lifetimes: fx.mem, AccessTokenTTL: 15 * time.Minute, Now: clock, Audit: fx.events})
	if err != nil {
		t.Fatal(err)
	}
	fx.svc = svc
	return fx
}

// rotate presents the fixture's first token and returns the error.
func (fx *fixture) rotate(t *testing.T) error {
	t.Helper()
	_, err := fx.mem.Rotate(t.Context(), store.RotateRequest{OldHash: fx.tok.Hash, ClientID: "app",
		New: store.RefreshToken{Hash: "h2", IssuedAt: fx.now, IdleExpiresAt: fx.now.Add(time.Hour)}, Now: fx.now})
	return err
}

// subEntry returns the user's `sub` denylist entry.
func (fx *fixture) subEntry(t *testing.T) (store.Revocation, bool) {
	t.Helper()
	active, err := fx.mem.Active(t.Context(), fx.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range active {
		if r.Kind == store.RevokeSub && r.Value == userID {
			return r, true
		}
	}
	return store.Revocation{}, false
}

func TestCredentialChangesEndSessions(t *testing.T) {
	tests := []struct {
		name    string
		do      func(ctx context.Context, s *sessions.Service) (int, error)
		wantN   int
		wantSub bool
	}{
		{"set password", func(ctx context.Context, s *sessions.Service) (int, error) {
			return s.SetPassword(ctx, userID, "$argon2id$new")
		}, 1, true},
		{"disable", func(ctx context.Context, s *sessions.Service) (int, error) {
			return s.SetDisabled(ctx, userID, true)
		}, 1, true},
		{"end sessions", func(ctx context.Context, s *sessions.Service) (int, error) {
			return s.EndUserSessions(ctx, userID)
		}, 1, true},
		{"enable", func(ctx context.Context, s *sessions.Service) (int, error) {
			// Enabling revokes nothing, but it moves the epoch: a session
			// read before it is dead.
			return s.SetDisabled(ctx, userID, false)
		}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 0)
			events, err := fx.mem.Subscribe(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			<-events // the initial Resync
			n, err := tt.do(t.Context(), fx.svc)
			if err != nil || n != tt.wantN {
				t.Fatalf("= %d, %v; want %d sessions revoked", n, err, tt.wantN)
			}
			if err := fx.rotate(t); !errors.Is(err, store.ErrRevoked) {
				t.Errorf("the old session's refresh: %v, want ErrRevoked", err)
			}
			sub, ok := fx.subEntry(t)
			if ok != tt.wantSub {
				t.Fatalf("sub entry present = %v, want %v", ok, tt.wantSub)
			}
			if !ok {
				return
			}
			if !sub.NotBefore.Equal(fx.now) {
				t.Errorf("NotBefore = %v, want now", sub.NotBefore)
			}
			if ev := <-events; ev.Revocation == nil || ev.Revocation.Kind != store.RevokeSub {
				t.Errorf("published %+v, want the sub entry", ev)
			}
		})
	}
}

// Item 8: a user revocation outlives every token it must deny, sized from
// what is stored (servers' recorded lifetimes, clients' own), not from the
// caller's flag.
func TestRevocationsSizedFromStoredLifetimes(t *testing.T) {
	tests := []struct {
		name      string
		clientTTL time.Duration
		recorded  time.Duration
		want      time.Duration
	}{
		{"flag only", 0, 0, 15 * time.Minute},
		{"a server runs with 2h", 0, 2 * time.Hour, 2 * time.Hour},
		{"a client has 3h", 3 * time.Hour, time.Hour, 3 * time.Hour},
		{"shorter records never shorten", 0, time.Minute, 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, tt.clientTTL)
			if tt.recorded > 0 {
				if err := fx.mem.RecordAccessTTL(t.Context(), tt.recorded, fx.now); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := fx.svc.EndUserSessions(t.Context(), userID); err != nil {
				t.Fatal(err)
			}
			sub, ok := fx.subEntry(t)
			if !ok {
				t.Fatal("no sub entry")
			}
			if got := sub.ExpiresAt.Sub(fx.now); got != tt.want {
				t.Errorf("sub entry lasts %v, want %v", got, tt.want)
			}
			if err := fx.svc.RevokeSession(t.Context(), "fam1", 0, audit.CauseRevoke); err != nil {
				t.Fatal(err)
			}
			active, _ := fx.mem.Active(t.Context(), fx.now)
			for _, r := range active {
				if r.Kind == store.RevokeSID && r.ExpiresAt.Sub(fx.now) != tt.want {
					t.Errorf("sid entry lasts %v, want %v", r.ExpiresAt.Sub(fx.now), tt.want)
				}
			}
		})
	}
}

func TestDeleteUser(t *testing.T) {
	fx := newFixture(t, 0)
	if err := fx.svc.DeleteUser(t.Context(), userID); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.mem.UserByID(t.Context(), userID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user still there: %v", err)
	}
	if _, ok := fx.subEntry(t); !ok {
		t.Error("no sub entry: access tokens of the deleted user stay valid")
	}
	if err := fx.svc.DeleteUser(t.Context(), userID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func TestRevokeFailuresChangeNothingDownstream(t *testing.T) {
	fx := newFixture(t, 0)
	svc, err := sessions.New(sessions.Config{Users: fx.mem, Refresh: fx.mem,
		Revocations: failingRevocations{fx.mem}, Feed: fx.mem, AccessTokenTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	events, _ := fx.mem.Subscribe(t.Context())
	<-events
	if err := svc.RevokeAccessToken(t.Context(), "jti-1", fx.now.Add(time.Minute)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("RevokeAccessToken = %v, want ErrUnavailable", err)
	}
	select {
	case ev := <-events:
		t.Fatalf("published %+v after a failed durable write", ev)
	default:
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := sessions.New(sessions.Config{}); err == nil {
		t.Fatal("New accepted an empty config")
	}
}

type failingRevocations struct{ store.RevocationStore }

func (failingRevocations) Revoke(context.Context, store.Revocation) error {
	return store.ErrUnavailable
}

// A key revocation outlives every token the key signed and every cached
// JWKS that still lists the key, plus a minute.
func TestRevokeSigningKeyLifetime(t *testing.T) {
	tests := []struct {
		name       string
		clientTTL  time.Duration
		jwksMaxAge time.Duration
		want       time.Duration
	}{
		{"access TTL longest", 0, 10 * time.Minute, 16 * time.Minute},
		{"JWKS max-age longest", 0, 30 * time.Minute, 31 * time.Minute},
		{"a client's TTL longest", time.Hour, 10 * time.Minute, 61 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, tt.clientTTL)
			events, err := fx.mem.Subscribe(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			<-events
			if err := fx.svc.RevokeSigningKey(t.Context(), "kid-1", tt.jwksMaxAge); err != nil {
				t.Fatal(err)
			}
			want := store.Revocation{Kind: store.RevokeKID, Value: "kid-1", ExpiresAt: fx.now.Add(tt.want), CreatedAt: fx.now}
			active, _ := fx.mem.Active(t.Context(), fx.now)
			if len(active) != 1 || active[0] != want {
				t.Errorf("recorded %+v, want [%+v]", active, want)
			}
			if ev := <-events; ev.Revocation == nil || *ev.Revocation != want {
				t.Errorf("published %+v, want %+v", ev, want)
			}
		})
	}
}

// When the durable record fails nothing is published, and the error names
// the key: a revocation on the feed but in no store would vanish at the next
// resynchronisation.
func TestRevokeSigningKeyRecordFails(t *testing.T) {
	fx := newFixture(t, 0)
	svc, err := sessions.New(sessions.Config{Users: fx.mem, Refresh: fx.mem,
		Revocations: failingRevocations{fx.mem}, Feed: fx.mem, AccessTokenTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	events, _ := fx.mem.Subscribe(t.Context())
	<-events
	err = svc.RevokeSigningKey(t.Context(), "kid-1", time.Minute)
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "kid-1") {
		t.Fatalf("err = %v, want the store's error naming the key", err)
	}
	select {
	case ev := <-events:
		t.Errorf("published %+v after a failed record", ev)
	default:
	}
}
