package storetest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// suiteSigningKey returns a stored-key record with random sealed bytes and a
// JWK-shaped public part. The store never interprets either.
func suiteSigningKey(t testing.TB, state store.KeyState, created time.Time) store.SigningKey {
	t.Helper()
	sealed := make([]byte, 64)
	if _, err := rand.Read(sealed); err != nil {
		t.Fatalf("random key: %v", err)
	}
	id := suiteName(t, "kid-")
	k := store.SigningKey{
		ID:          id,
		Algorithm:   "ES256",
		State:       state,
		Sealed:      sealed,
		PublicJWK:   []byte(`{"kty":"EC","crv":"P-256","kid":"` + id + `","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`),
		CreatedAt:   created,
		ActivatesAt: created,
	}
	if state == store.KeyRetired {
		k.RetiredAt = created.Add(time.Hour)
		k.RemoveAt = created.Add(2 * time.Hour)
	}
	return k
}

// suiteSameJSON compares JSON documents by value: a backend may store the
// public JWK as jsonb, which reorders keys and whitespace.
func suiteSameJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// suiteKeyDiff describes how got differs from want, or returns "". Key
// material is never printed.
func suiteKeyDiff(got, want store.SigningKey) string {
	d := suiteTimeDiff("CreatedAt", got.CreatedAt, want.CreatedAt) +
		suiteTimeDiff("ActivatesAt", got.ActivatesAt, want.ActivatesAt) +
		suiteTimeDiff("RetiredAt", got.RetiredAt, want.RetiredAt) +
		suiteTimeDiff("RemoveAt", got.RemoveAt, want.RemoveAt)
	if got.ID != want.ID || got.Algorithm != want.Algorithm || got.State != want.State {
		d += fmt.Sprintf("id/alg/state = %s/%s/%s, want %s/%s/%s; ",
			got.ID, got.Algorithm, got.State, want.ID, want.Algorithm, want.State)
	}
	if !bytes.Equal(got.Sealed, want.Sealed) {
		d += "Sealed differs; "
	}
	if !suiteSameJSON(got.PublicJWK, want.PublicJWK) {
		d += "PublicJWK differs; "
	}
	return d
}

// suiteExpectKeys fails unless s holds exactly want, in order.
func suiteExpectKeys(t *testing.T, s store.KeyStore, want []store.SigningKey) {
	t.Helper()
	got, err := s.Keys(t.Context())
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("Keys = %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		if d := suiteKeyDiff(got[i], want[i]); d != "" {
			t.Errorf("Keys[%d]: %s", i, d)
		}
	}
}

// suiteSetKeys replaces the stored set with keys.
func suiteSetKeys(t *testing.T, s store.KeyStore, keys []store.SigningKey) {
	t.Helper()
	err := s.UpdateKeys(t.Context(), func([]store.SigningKey) ([]store.SigningKey, error) { return keys, nil })
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
}

// suiteClone deep-copies keys, so a test keeps its expectations even if a
// store were to alias them.
func suiteClone(keys []store.SigningKey) []store.SigningKey {
	out := make([]store.SigningKey, len(keys))
	for i, k := range keys {
		k.Sealed = bytes.Clone(k.Sealed)
		k.PublicJWK = bytes.Clone(k.PublicJWK)
		out[i] = k
	}
	return out
}

// TestKeyStore runs the conformance suite for store.KeyStore. newStore must
// return a fresh, empty store for each call.
func TestKeyStore(t *testing.T, newStore func(*testing.T) store.KeyStore) {
	t.Run("EmptyInitially", func(t *testing.T) {
		suiteExpectKeys(t, newStore(t), nil)
	})

	t.Run("UpdateKeysReplacesSet", func(t *testing.T) {
		s := newStore(t)
		base := suiteNow().Add(-time.Hour)
		current := suiteSigningKey(t, store.KeyCurrent, base)
		next := suiteSigningKey(t, store.KeyNext, base.Add(time.Minute))
		// Stored out of order; Keys returns them by CreatedAt.
		suiteSetKeys(t, s, suiteClone([]store.SigningKey{next, current}))
		suiteExpectKeys(t, s, []store.SigningKey{current, next})

		// Rotate: next becomes current, current retires, a new next appears.
		retired := current
		retired.State = store.KeyRetired
		retired.RetiredAt, retired.RemoveAt = base.Add(time.Hour), base.Add(2*time.Hour)
		promoted := next
		promoted.State = store.KeyCurrent
		newNext := suiteSigningKey(t, store.KeyNext, base.Add(2*time.Minute))
		var seen []store.SigningKey
		err := s.UpdateKeys(t.Context(), func(stored []store.SigningKey) ([]store.SigningKey, error) {
			seen = suiteClone(stored)
			return suiteClone([]store.SigningKey{retired, promoted, newNext}), nil
		})
		suiteCheckErr(t, "UpdateKeys", err, nil)
		if len(seen) != 2 || suiteKeyDiff(seen[0], current) != "" || suiteKeyDiff(seen[1], next) != "" {
			t.Errorf("fn saw %d keys, want the stored current and next", len(seen))
		}
		suiteExpectKeys(t, s, []store.SigningKey{retired, promoted, newNext})

		// Removing a key removes it.
		suiteSetKeys(t, s, suiteClone([]store.SigningKey{promoted, newNext}))
		suiteExpectKeys(t, s, []store.SigningKey{promoted, newNext})
	})

	t.Run("FnErrorChangesNothing", func(t *testing.T) {
		s := newStore(t)
		keys := []store.SigningKey{suiteSigningKey(t, store.KeyCurrent, suiteNow())}
		suiteSetKeys(t, s, suiteClone(keys))
		errFn := errors.New("storetest: rotation refused")
		err := s.UpdateKeys(t.Context(), func(stored []store.SigningKey) ([]store.SigningKey, error) {
			return append(stored, suiteSigningKey(t, store.KeyNext, suiteNow())), errFn
		})
		if !errors.Is(err, errFn) {
			t.Errorf("UpdateKeys = %v, want it to wrap fn's error", err)
		}
		suiteExpectKeys(t, s, keys)
	})

	t.Run("NoAliasing", func(t *testing.T) {
		s := newStore(t)
		keys := []store.SigningKey{suiteSigningKey(t, store.KeyCurrent, suiteNow())}
		given := suiteClone(keys)
		suiteSetKeys(t, s, given)
		given[0].Sealed[0] ^= 0xff
		got, err := s.Keys(t.Context())
		suiteCheckErr(t, "Keys", err, nil)
		got[0].Sealed[0] ^= 0xff
		got[0].State = store.KeyRetired
		suiteExpectKeys(t, s, keys)
	})

	t.Run("ConcurrentUpdatesLoseNothing", func(t *testing.T) {
		// Each update appends its own key to the set it was given; an update
		// that saw a stale set would drop another's key.
		s := newStore(t)
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		added := make([]store.SigningKey, n)
		for i := range added {
			added[i] = suiteSigningKey(t, store.KeyNext, suiteNow().Add(time.Duration(i)*time.Second))
		}
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = s.UpdateKeys(t.Context(), func(stored []store.SigningKey) ([]store.SigningKey, error) {
					time.Sleep(time.Millisecond)
					return append(stored, added[i]), nil
				})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			suiteCheckErr(t, fmt.Sprintf("UpdateKeys %d", i), err, nil)
		}
		suiteExpectKeys(t, s, added)
	})

	t.Run("ConcurrentUpdatesSerialise", func(t *testing.T) {
		// Every instance adds a current key only if none exists: under the
		// exclusive lock exactly one of them does.
		s := newStore(t)
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = s.UpdateKeys(t.Context(), func(stored []store.SigningKey) ([]store.SigningKey, error) {
					time.Sleep(time.Millisecond) // deciding takes a while (key generation)
					for _, k := range stored {
						if k.State == store.KeyCurrent {
							return stored, nil
						}
					}
					return append(stored, suiteSigningKey(t, store.KeyCurrent, suiteNow())), nil
				})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			suiteCheckErr(t, fmt.Sprintf("UpdateKeys %d", i), err, nil)
		}
		got, err := s.Keys(t.Context())
		suiteCheckErr(t, "Keys", err, nil)
		if len(got) != 1 || got[0].State != store.KeyCurrent {
			t.Errorf("Keys = %d keys, want exactly one current key", len(got))
		}
	})
}
