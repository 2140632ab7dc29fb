package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

func TestScopeWithin(t *testing.T) {
	tests := []struct {
		requested []string
		granted   string
		want      bool
	}{
		{nil, "read write", true},
		{[]string{}, "", true},
		{[]string{"read"}, "read write", true},
		{[]string{"write", "read"}, "read  write", true},
		{[]string{"admin"}, "read write", false},
		{[]string{""}, "read  write", false},
		{[]string{"read"}, "", false},
		{[]string{"rea"}, "read", false},
	}
	for _, tt := range tests {
		if got := store.ScopeWithin(tt.requested, tt.granted); got != tt.want {
			t.Errorf("ScopeWithin(%q, %q) = %v, want %v", tt.requested, tt.granted, got, tt.want)
		}
	}
}

func TestMergeRevocationsOrderFree(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := store.Revocation{Kind: store.RevokeSub, Value: "u", NotBefore: t0, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
	b := store.Revocation{Kind: store.RevokeSub, Value: "u", NotBefore: t0.Add(time.Minute), ExpiresAt: t0.Add(30 * time.Minute), CreatedAt: t0.Add(time.Minute)}
	ab, ba := store.MergeRevocations(a, b), store.MergeRevocations(b, a)
	if ab != ba {
		t.Fatalf("merge depends on order: %+v vs %+v", ab, ba)
	}
	want := store.Revocation{Kind: store.RevokeSub, Value: "u", NotBefore: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
	if ab != want {
		t.Errorf("merge = %+v, want %+v", ab, want)
	}
	if again := store.MergeRevocations(ab, b); again != ab {
		t.Errorf("merge is not idempotent: %+v", again)
	}
}

func TestRevocationMatches(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 500e6, time.UTC)
	exp := now.Add(time.Hour)
	sub := store.Revocation{Kind: store.RevokeSub, Value: "u", NotBefore: now, ExpiresAt: exp}
	tests := []struct {
		name string
		r    store.Revocation
		q    store.RevocationQuery
		want bool
	}{
		{"jti", store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: exp}, store.RevocationQuery{JTI: "j"}, true},
		{"other jti", store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: exp}, store.RevocationQuery{JTI: "k"}, false},
		{"sid", store.Revocation{Kind: store.RevokeSID, Value: "s", ExpiresAt: exp}, store.RevocationQuery{SID: "s"}, true},
		{"sid is not a jti", store.Revocation{Kind: store.RevokeSID, Value: "s", ExpiresAt: exp}, store.RevocationQuery{JTI: "s"}, false},
		{"sub issued before", sub, store.RevocationQuery{Sub: "u", IssuedAt: now.Add(-time.Hour)}, true},
		{"sub issued the same second", sub, store.RevocationQuery{Sub: "u", IssuedAt: now.Add(400 * time.Millisecond)}, true},
		{"sub issued a second later", sub, store.RevocationQuery{Sub: "u", IssuedAt: now.Add(time.Second)}, false},
		{"kid", store.Revocation{Kind: store.RevokeKID, Value: "k1", ExpiresAt: exp}, store.RevocationQuery{KID: "k1", JTI: "x"}, true},
		{"kid is not a sid", store.Revocation{Kind: store.RevokeKID, Value: "k1", ExpiresAt: exp}, store.RevocationQuery{SID: "k1"}, false},
		{"expired", store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: now}, store.RevocationQuery{JTI: "j"}, false},
		{"empty value", store.Revocation{Kind: store.RevokeJTI, ExpiresAt: exp}, store.RevocationQuery{}, false},
	}
	for _, tt := range tests {
		if got := tt.r.Matches(tt.q, now); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A scope of many tokens costs linear time (issue item 10): this only
// checks the answer; BenchmarkScopeWithinLarge measures it.
func BenchmarkScopeWithinLarge(b *testing.B) {
	toks := make([]string, 16000)
	for i := range toks {
		toks[i] = "s" + strings.Repeat("x", i%7)
	}
	granted := strings.Join(toks, " ")
	for b.Loop() {
		store.ScopeWithin(toks, granted)
	}
}
