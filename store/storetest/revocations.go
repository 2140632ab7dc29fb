package storetest

import (
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// suiteRevocation returns an entry of kind for value that expires in an hour.
func suiteRevocation(kind store.RevocationKind, value string, now time.Time) store.Revocation {
	return store.Revocation{Kind: kind, Value: value, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
}

// suiteRevoke stores r and fails the test on error.
func suiteRevoke(t *testing.T, s store.RevocationStore, r store.Revocation) {
	t.Helper()
	if err := s.Revoke(t.Context(), r); err != nil {
		t.Fatalf("Revoke(%s %s): %v", r.Kind, r.Value, err)
	}
}

// suiteIsRevoked asks s about q at the current wall-clock time: a backend
// such as Redis expires entries by real time, so the suite never asks about
// another moment.
func suiteIsRevoked(t *testing.T, s store.RevocationStore, q store.RevocationQuery) bool {
	t.Helper()
	revoked, err := s.IsRevoked(t.Context(), q, time.Now())
	if err != nil {
		t.Fatalf("IsRevoked: %v", err)
	}
	return revoked
}

// suiteActive returns the active entries keyed by kind and value.
func suiteActive(t *testing.T, s store.RevocationStore) map[[2]string]store.Revocation {
	t.Helper()
	list, err := s.Active(t.Context(), time.Now())
	if err != nil {
		t.Fatalf("Active: %v", err)
	}
	out := make(map[[2]string]store.Revocation, len(list))
	for _, r := range list {
		key := [2]string{string(r.Kind), r.Value}
		if _, dup := out[key]; dup {
			t.Errorf("Active lists %s %s twice", r.Kind, r.Value)
		}
		out[key] = r
	}
	return out
}

// suiteRevocationDiff describes how got differs from want, or returns "".
func suiteRevocationDiff(got, want store.Revocation) string {
	d := suiteTimeDiff("NotBefore", got.NotBefore, want.NotBefore) +
		suiteTimeDiff("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	if got.Kind != want.Kind || got.Value != want.Value {
		d += "kind/value = " + string(got.Kind) + " " + got.Value + ", want " + string(want.Kind) + " " + want.Value
	}
	return d
}

// TestRevocationStore runs the conformance suite for store.RevocationStore.
// newStore must return a fresh, empty store for each call. Expiry is tested
// with real time (short waits, in parallel).
func TestRevocationStore(t *testing.T, newStore func(*testing.T) store.RevocationStore) {
	t.Run("Matching", func(t *testing.T) {
		// The revoked access token: iat is whole seconds (RFC 7519 §2).
		iat := time.Now().Truncate(time.Second).Add(-time.Minute)
		query := store.RevocationQuery{JTI: "jti-1", SID: "sid-1", Sub: "sub-1", IssuedAt: iat, KID: "kid-1"}
		sub := func(value string, notBefore time.Time) store.Revocation {
			r := suiteRevocation(store.RevokeSub, value, suiteNow())
			r.NotBefore = notBefore
			return r
		}
		cases := []struct {
			name  string
			entry store.Revocation
			query store.RevocationQuery
			want  bool
		}{
			{"JTI", suiteRevocation(store.RevokeJTI, "jti-1", suiteNow()), query, true},
			{"OtherJTI", suiteRevocation(store.RevokeJTI, "jti-2", suiteNow()), query, false},
			{"SID", suiteRevocation(store.RevokeSID, "sid-1", suiteNow()), query, true},
			{"OtherSID", suiteRevocation(store.RevokeSID, "sid-2", suiteNow()), query, false},
			{"SubIssuedBefore", sub("sub-1", iat.Add(time.Minute)), query, true},
			{"SubIssuedAtNotBefore", sub("sub-1", iat), query, true},
			{"SubIssuedSameSecond", sub("sub-1", iat.Add(900*time.Millisecond)), query, true},
			{"SubIssuedAfter", sub("sub-1", iat.Add(-time.Second)), query, false},
			{"OtherSub", sub("sub-2", iat.Add(time.Minute)), query, false},
			// A value revoked under one kind does not match another claim.
			{"JTIValueAsSID", suiteRevocation(store.RevokeJTI, "sid-1", suiteNow()), query, false},
			{"SIDValueAsSub", suiteRevocation(store.RevokeSID, "sub-1", suiteNow()), query, false},
			{"SubValueAsJTI", sub("jti-1", iat.Add(time.Minute)), query, false},
			{"NoSIDInToken", suiteRevocation(store.RevokeSID, "sid-1", suiteNow()),
				store.RevocationQuery{JTI: "jti-1", Sub: "sub-1", IssuedAt: iat, KID: "kid-1"}, false},
			// A kid entry (an emergency key rotation) revokes every token
			// the key signed, whatever its other claims.
			{"KID", suiteRevocation(store.RevokeKID, "kid-1", suiteNow()), query, true},
			{"KIDAlone", suiteRevocation(store.RevokeKID, "kid-1", suiteNow()), store.RevocationQuery{KID: "kid-1"}, true},
			{"OtherKID", suiteRevocation(store.RevokeKID, "kid-2", suiteNow()), query, false},
			{"JTIValueAsKID", suiteRevocation(store.RevokeJTI, "kid-1", suiteNow()), query, false},
			{"KIDValueAsSub", suiteRevocation(store.RevokeKID, "sub-1", suiteNow()), query, false},
			{"NoKIDInToken", suiteRevocation(store.RevokeKID, "kid-1", suiteNow()),
				store.RevocationQuery{JTI: "jti-1", SID: "sid-1", Sub: "sub-1", IssuedAt: iat}, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				if suiteIsRevoked(t, s, tc.query) {
					t.Fatal("empty store reports a revocation")
				}
				suiteRevoke(t, s, tc.entry)
				if got := suiteIsRevoked(t, s, tc.query); got != tc.want {
					t.Errorf("IsRevoked = %v, want %v", got, tc.want)
				}
			})
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		s := newStore(t)
		r := suiteRevocation(store.RevokeJTI, "jti-1", suiteNow())
		suiteRevoke(t, s, r)
		suiteRevoke(t, s, r)
		active := suiteActive(t, s)
		if len(active) != 1 {
			t.Fatalf("Active = %d entries, want 1", len(active))
		}
		if d := suiteRevocationDiff(active[[2]string{"jti", "jti-1"}], r); d != "" {
			t.Errorf("Active entry: %s", d)
		}
	})

	t.Run("LatestWins", func(t *testing.T) {
		// For one (kind, value) the latest NotBefore and the latest ExpiresAt
		// win, whatever order the revocations arrive in.
		now := suiteNow()
		older := suiteRevocation(store.RevokeSub, "sub-1", now)
		older.NotBefore = now.Add(-time.Hour).Truncate(time.Second)
		older.ExpiresAt = now.Add(2 * time.Hour)
		newer := suiteRevocation(store.RevokeSub, "sub-1", now)
		newer.NotBefore = now.Truncate(time.Second)
		newer.ExpiresAt = now.Add(time.Hour)
		want := newer
		want.ExpiresAt = older.ExpiresAt
		between := store.RevocationQuery{Sub: "sub-1", IssuedAt: now.Add(-time.Minute).Truncate(time.Second)}
		for _, tc := range []struct {
			name  string
			order []store.Revocation
		}{
			{"OlderFirst", []store.Revocation{older, newer}},
			{"NewerFirst", []store.Revocation{newer, older}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				for _, r := range tc.order {
					suiteRevoke(t, s, r)
				}
				if !suiteIsRevoked(t, s, between) {
					t.Error("token issued between the two NotBefore times is not revoked")
				}
				active := suiteActive(t, s)
				if len(active) != 1 {
					t.Fatalf("Active = %d entries, want 1", len(active))
				}
				if d := suiteRevocationDiff(active[[2]string{"sub", "sub-1"}], want); d != "" {
					t.Errorf("merged entry: %s", d)
				}
			})
		}
	})

	t.Run("ActiveListsEntries", func(t *testing.T) {
		s := newStore(t)
		if got := suiteActive(t, s); len(got) != 0 {
			t.Fatalf("Active(empty) = %d entries", len(got))
		}
		now := suiteNow()
		sub := suiteRevocation(store.RevokeSub, "sub-1", now)
		sub.NotBefore = now.Truncate(time.Second)
		want := []store.Revocation{
			suiteRevocation(store.RevokeJTI, "jti-1", now),
			suiteRevocation(store.RevokeSID, "sid-1", now),
			sub,
			suiteRevocation(store.RevokeKID, "kid-1", now),
		}
		for _, r := range want {
			suiteRevoke(t, s, r)
		}
		active := suiteActive(t, s)
		if len(active) != len(want) {
			t.Fatalf("Active = %d entries, want %d", len(active), len(want))
		}
		for _, r := range want {
			got, ok := active[[2]string{string(r.Kind), r.Value}]
			if !ok {
				t.Errorf("Active misses %s %s", r.Kind, r.Value)
			} else if d := suiteRevocationDiff(got, r); d != "" {
				t.Errorf("Active %s %s: %s", r.Kind, r.Value, d)
			}
		}
	})

	t.Run("ExpiresByRealTime", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		now := suiteNow()
		lasting := suiteRevocation(store.RevokeJTI, "jti-lasting", now)
		short := suiteRevocation(store.RevokeJTI, "jti-short", now)
		short.ExpiresAt = now.Add(time.Second)
		shortSub := suiteRevocation(store.RevokeSub, "sub-short", now)
		shortSub.NotBefore = now.Truncate(time.Second)
		shortSub.ExpiresAt = now.Add(time.Second)
		shortKID := suiteRevocation(store.RevokeKID, "kid-short", now)
		shortKID.ExpiresAt = now.Add(time.Second)
		for _, r := range []store.Revocation{lasting, short, shortSub, shortKID} {
			suiteRevoke(t, s, r)
		}
		kidQuery := store.RevocationQuery{KID: "kid-short"}
		if !suiteIsRevoked(t, s, kidQuery) {
			t.Fatal("short-lived kid entry not revoked before it expires")
		}
		subQuery := store.RevocationQuery{Sub: "sub-short", IssuedAt: now.Add(-time.Minute)}
		if !suiteIsRevoked(t, s, store.RevocationQuery{JTI: "jti-short"}) || !suiteIsRevoked(t, s, subQuery) {
			t.Fatal("short-lived entries not revoked before they expire")
		}
		time.Sleep(time.Until(short.ExpiresAt) + 200*time.Millisecond)
		if suiteIsRevoked(t, s, store.RevocationQuery{JTI: "jti-short"}) {
			t.Error("jti entry still revoked after its ExpiresAt")
		}
		if suiteIsRevoked(t, s, subQuery) {
			t.Error("sub entry still revoked after its ExpiresAt")
		}
		if suiteIsRevoked(t, s, kidQuery) {
			t.Error("kid entry still revoked after its ExpiresAt")
		}
		if !suiteIsRevoked(t, s, store.RevocationQuery{JTI: "jti-lasting"}) {
			t.Error("unexpired entry no longer revoked")
		}
		active := suiteActive(t, s)
		if _, ok := active[[2]string{"jti", "jti-lasting"}]; len(active) != 1 || !ok {
			t.Errorf("Active = %v, want only the unexpired entry", active)
		}
	})
}
