package tokenserver

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Function-field stubs: each wraps a real store and overrides one method
// only when its field is set, to inject errors.

type stubUsers struct {
	store.UserStore
	userByName func(ctx context.Context, name string) (store.User, error)
	userByID   func(ctx context.Context, id string) (store.User, error)
}

func (s stubUsers) UserByName(ctx context.Context, name string) (store.User, error) {
	if s.userByName != nil {
		return s.userByName(ctx, name)
	}
	return s.UserStore.UserByName(ctx, name)
}

func (s stubUsers) UserByID(ctx context.Context, id string) (store.User, error) {
	if s.userByID != nil {
		return s.userByID(ctx, id)
	}
	return s.UserStore.UserByID(ctx, id)
}

type stubClients struct {
	store.ClientStore
	clientByID func(ctx context.Context, id string) (store.Client, error)
}

func (s stubClients) ClientByID(ctx context.Context, id string) (store.Client, error) {
	if s.clientByID != nil {
		return s.clientByID(ctx, id)
	}
	return s.ClientStore.ClientByID(ctx, id)
}

type stubRefresh struct {
	store.RefreshTokenStore
	createFamily func(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) error
	rotate       func(ctx context.Context, req store.RotateRequest) (store.RefreshFamily, error)
	lookup       func(ctx context.Context, hash string) (store.RefreshToken, store.RefreshFamily, error)
	revokeFamily func(ctx context.Context, familyID string, at time.Time) error
}

func (s stubRefresh) CreateFamily(ctx context.Context, f store.RefreshFamily, t store.RefreshToken) error {
	if s.createFamily != nil {
		return s.createFamily(ctx, f, t)
	}
	return s.RefreshTokenStore.CreateFamily(ctx, f, t)
}

func (s stubRefresh) Rotate(ctx context.Context, req store.RotateRequest) (store.RefreshFamily, error) {
	if s.rotate != nil {
		return s.rotate(ctx, req)
	}
	return s.RefreshTokenStore.Rotate(ctx, req)
}

func (s stubRefresh) Lookup(ctx context.Context, hash string) (store.RefreshToken, store.RefreshFamily, error) {
	if s.lookup != nil {
		return s.lookup(ctx, hash)
	}
	return s.RefreshTokenStore.Lookup(ctx, hash)
}

func (s stubRefresh) RevokeFamily(ctx context.Context, familyID string, at time.Time) error {
	if s.revokeFamily != nil {
		return s.revokeFamily(ctx, familyID, at)
	}
	return s.RefreshTokenStore.RevokeFamily(ctx, familyID, at)
}

type stubRevocations struct {
	store.RevocationStore
	revoke    func(ctx context.Context, r store.Revocation) error
	isRevoked func(ctx context.Context, q store.RevocationQuery, now time.Time) (bool, error)
	active    func(ctx context.Context, now time.Time) ([]store.Revocation, error)
}

func (s stubRevocations) Revoke(ctx context.Context, r store.Revocation) error {
	if s.revoke != nil {
		return s.revoke(ctx, r)
	}
	return s.RevocationStore.Revoke(ctx, r)
}

func (s stubRevocations) IsRevoked(ctx context.Context, q store.RevocationQuery, now time.Time) (bool, error) {
	if s.isRevoked != nil {
		return s.isRevoked(ctx, q, now)
	}
	return s.RevocationStore.IsRevoked(ctx, q, now)
}

func (s stubRevocations) Active(ctx context.Context, now time.Time) ([]store.Revocation, error) {
	if s.active != nil {
		return s.active(ctx, now)
	}
	return s.RevocationStore.Active(ctx, now)
}

type stubFeed struct {
	store.RevocationFeed
	publish   func(ctx context.Context, r store.Revocation) error
	subscribe func(ctx context.Context) (<-chan store.FeedEvent, error)
}

func (s stubFeed) Publish(ctx context.Context, r store.Revocation) error {
	if s.publish != nil {
		return s.publish(ctx, r)
	}
	return s.RevocationFeed.Publish(ctx, r)
}

func (s stubFeed) Subscribe(ctx context.Context) (<-chan store.FeedEvent, error) {
	if s.subscribe != nil {
		return s.subscribe(ctx)
	}
	return s.RevocationFeed.Subscribe(ctx)
}

type stubThrottle struct {
	store.LoginThrottle
	reserve func(ctx context.Context, keys []store.ThrottleKey) (time.Duration, error)
	release func(ctx context.Context, keys []store.ThrottleKey) error
}

func (s stubThrottle) Reserve(ctx context.Context, keys []store.ThrottleKey) (time.Duration, error) {
	if s.reserve != nil {
		return s.reserve(ctx, keys)
	}
	return s.LoginThrottle.Reserve(ctx, keys)
}

func (s stubThrottle) Release(ctx context.Context, keys []store.ThrottleKey) error {
	if s.release != nil {
		return s.release(ctx, keys)
	}
	return s.LoginThrottle.Release(ctx, keys)
}

// countingHasher wraps the real hasher, counts hash computations and can
// inject an error into every call.
type countingHasher struct {
	passwordHasher
	calls atomic.Int64
	err   error
}

func (c *countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	c.calls.Add(1)
	if c.err != nil {
		return "", c.err
	}
	return c.passwordHasher.Hash(ctx, pw)
}

func (c *countingHasher) Verify(ctx context.Context, pw, encoded string) (bool, bool, error) {
	c.calls.Add(1)
	if c.err != nil {
		return false, false, c.err
	}
	return c.passwordHasher.Verify(ctx, pw, encoded)
}

func (c *countingHasher) VerifyDummy(ctx context.Context, pw string) error {
	c.calls.Add(1)
	if c.err != nil {
		return c.err
	}
	return c.passwordHasher.VerifyDummy(ctx, pw)
}

// countHashing replaces the server's hasher with a counting wrapper.
func (h *harness) countHashing() *countingHasher {
	c := &countingHasher{passwordHasher: h.srv.hasher}
	h.srv.hasher = c
	return c
}
