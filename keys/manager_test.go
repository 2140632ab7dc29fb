package keys

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/tokenserver/tokenserver/store"
)

func TestNewManagerCreatesCurrentAndNext(t *testing.T) {
	env := newEnv(t)
	m := env.manager()
	set := env.stored()
	if len(set) != 2 {
		t.Fatalf("stored %d keys, want 2", len(set))
	}
	now := env.clock.Now()
	for _, k := range set {
		if k.Algorithm != ES256 || len(k.Sealed) == 0 || len(k.PublicJWK) == 0 || !k.CreatedAt.Equal(now) {
			t.Fatalf("stored key %+v", k)
		}
		switch k.State {
		case store.KeyCurrent:
			if !k.ActivatesAt.Equal(now) {
				t.Fatalf("first current key activates at %v", k.ActivatesAt)
			}
		case store.KeyNext:
			if want := now.Add(activation); !k.ActivatesAt.Equal(want) {
				t.Fatalf("next ActivatesAt %v, want %v", k.ActivatesAt, want)
			}
		default:
			t.Fatalf("unexpected state %q", k.State)
		}
	}
	if err := m.Ready(); err != nil {
		t.Fatal(err)
	}
	// A second manager on the same set creates nothing.
	env.manager()
	if n := len(env.stored()); n != 2 {
		t.Fatalf("second NewManager changed the set to %d keys", n)
	}
}

func TestNewManagerConcurrentStartCreatesOneSet(t *testing.T) {
	env := newEnv(t)
	var wg sync.WaitGroup
	ms := make([]*Manager, 5)
	for i := range ms {
		wg.Go(func() {
			m, err := NewManager(context.Background(), env.config())
			if err != nil {
				t.Error(err)
				return
			}
			ms[i] = m
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if got := env.byState(ES256); got[store.KeyCurrent] != 1 || got[store.KeyNext] != 1 || len(env.stored()) != 2 {
		t.Fatalf("states %v over %d keys, want one current and one next", got, len(env.stored()))
	}
	kid := signingKidOf(t, ms[0])
	for _, m := range ms[1:] {
		if err := m.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := signingKidOf(t, m); got != kid {
			t.Fatalf("managers sign with %s and %s", kid, got)
		}
	}
}

func TestNewManagerWrongKEK(t *testing.T) {
	env := newEnv(t)
	env.manager()
	before := env.stored()
	cfg := env.config()
	cfg.Sealer = newTestSealer(t)
	cfg.PublishAlgorithms = []string{EdDSA} // would need a write; must not happen
	_, err := NewManager(context.Background(), cfg)
	if !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("NewManager with another KEK: %v, want ErrWrongKEK", err)
	}
	if !strings.Contains(err.Error(), "key-encryption key") {
		t.Fatalf("error does not say what is wrong: %v", err)
	}
	if after := env.stored(); len(after) != len(before) {
		t.Fatalf("failed NewManager changed the set: %d → %d keys", len(before), len(after))
	}
}

func TestNewManagerConfigErrors(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no store", func(c *Config) { c.Store = nil }, "Store"},
		{"no sealer", func(c *Config) { c.Sealer = nil }, "Sealer"},
		{"HMAC algorithm", func(c *Config) { c.Algorithm = "HS256" }, "unsupported"},
		{"none algorithm", func(c *Config) { c.Algorithm = "none" }, "unsupported"},
		{"bad publish algorithm", func(c *Config) { c.PublishAlgorithms = []string{"PS256"} }, "PublishAlgorithms"},
		{"negative max age", func(c *Config) { c.MaxAge = -time.Second }, "MaxAge"},
		{"negative margin", func(c *Config) { c.Margin = -time.Second }, "Margin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := env.config()
			tt.edit(&cfg)
			if _, err := NewManager(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want mention of %q", err, tt.want)
			}
			if n := len(env.stored()); n != 0 {
				t.Fatalf("a rejected config wrote %d keys", n)
			}
		})
	}
}

// TestLifecycle walks one key through next → current → retired → gone and
// checks which tokens verify at each step.
func TestLifecycle(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	m := env.manager()
	kidA := signingKidOf(t, m)
	tokA := mustSign(t, m, `{"n":"A"}`)
	_, etag0 := m.JWKS()

	// Too early: the next key has not been published for max-age + margin.
	env.clock.Advance(activation - time.Second)
	err := m.Rotate(ctx)
	if !errors.Is(err, ErrTooEarly) {
		t.Fatalf("Rotate before ActivatesAt: %v, want ErrTooEarly", err)
	}
	activatesAt := env.clock.Now().Add(time.Second).Format(time.RFC3339)
	if !strings.Contains(err.Error(), activatesAt) {
		t.Fatalf("ErrTooEarly does not say when (%s): %v", activatesAt, err)
	}
	if got := signingKidOf(t, m); got != kidA {
		t.Fatal("a refused rotation changed the signing key")
	}

	// Exactly at ActivatesAt: B becomes current, A retires.
	env.clock.Advance(time.Second)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	rotatedAt := env.clock.Now()
	kidB := signingKidOf(t, m)
	if kidB == kidA {
		t.Fatal("signing key unchanged after Rotate")
	}
	tokB := mustSign(t, m, `{"n":"B"}`)
	body, etag1 := m.JWKS()
	if etag1 == etag0 {
		t.Fatal("ETag unchanged after the set changed")
	}
	if kids := jwksKids(t, body); len(kids) != 3 || !slices.Contains(kids, kidA) || !slices.Contains(kids, kidB) {
		t.Fatalf("JWKS kids %v, want A, B and a new next key", kids)
	}
	for _, k := range env.stored() {
		if k.ID == kidA {
			if k.State != store.KeyRetired || !k.RetiredAt.Equal(rotatedAt) || !k.RemoveAt.Equal(rotatedAt.Add(retention)) {
				t.Fatalf("retired key %+v", k)
			}
		}
	}
	if got := env.byState(ES256); got[store.KeyCurrent] != 1 || got[store.KeyNext] != 1 || got[store.KeyRetired] != 1 {
		t.Fatalf("states %v", got)
	}

	// A's tokens verify until RemoveAt and not after.
	env.clock.Advance(retention - time.Nanosecond)
	for _, tok := range []string{tokA, tokB} {
		if _, err := m.Verify(tok); err != nil {
			t.Fatalf("token rejected before RemoveAt: %v", err)
		}
	}
	if _, etag := m.JWKS(); etag != etag1 {
		t.Fatal("ETag changed although the set did not")
	}
	env.clock.Advance(time.Nanosecond)
	if _, err := m.Verify(tokA); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of a removed key: %v", err)
	}
	if _, err := m.Verify(tokB); err != nil {
		t.Fatalf("current key's token rejected: %v", err)
	}
	body, etag2 := m.JWKS()
	if slices.Contains(jwksKids(t, body), kidA) || etag2 == etag1 {
		t.Fatalf("removed key still published (etag changed: %v)", etag2 != etag1)
	}
	if info := keyInfo(t, m, kidA); info.Published || info.State != store.KeyRetired {
		t.Fatalf("KeyInfo of removed key %+v", info)
	}

	// Maintain prunes it from the store.
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(env.stored(), func(k store.SigningKey) bool { return k.ID == kidA }) {
		t.Fatal("removed key not pruned from the store")
	}
	if _, etag := m.JWKS(); etag != etag2 {
		t.Fatal("pruning an unpublished key changed the JWKS")
	}
}

func jwksKids(t testing.TB, body []byte) []string {
	t.Helper()
	set, err := jwk.Parse(body)
	if err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, body)
	}
	var kids []string
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, _ := k.KeyID()
		kids = append(kids, kid)
	}
	return kids
}

func keyInfo(t testing.TB, m *Manager, kid string) KeyInfo {
	t.Helper()
	for _, k := range m.Keys() {
		if k.ID == kid {
			return k
		}
	}
	t.Fatalf("no key %s in Keys()", kid)
	return KeyInfo{}
}

func TestRotateNow(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	m := env.manager()
	other := env.manager()
	kidA := signingKidOf(t, m)
	nextB := keyOf(t, m, ES256, store.KeyNext).ID
	tokA := mustSign(t, m, `{"n":"A"}`)

	env.clock.Advance(time.Second) // long before B could activate normally
	if err := m.RotateNow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(tokA); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of the leaked key still verifies: %v", err)
	}
	if got := signingKidOf(t, m); got != nextB {
		t.Fatalf("signing with %s, want the former next key %s", got, nextB)
	}
	body, _ := m.JWKS()
	if kids := jwksKids(t, body); slices.Contains(kids, kidA) || len(kids) != 2 {
		t.Fatalf("JWKS after emergency rotation: %v", kids)
	}
	info := keyInfo(t, m, kidA)
	if info.State != store.KeyRetired || !info.RemoveAt.Equal(env.clock.Now()) || info.Published {
		t.Fatalf("leaked key info %+v", info)
	}
	if got := env.byState(ES256); got[store.KeyCurrent] != 1 || got[store.KeyNext] != 1 {
		t.Fatalf("states %v", got)
	}

	// Another instance keeps the leaked key until it reloads.
	if _, err := other.Verify(tokA); err != nil {
		t.Fatalf("before reload: %v", err)
	}
	if err := other.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(tokA); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("after reload the leaked key still verifies: %v", err)
	}
	if got := signingKidOf(t, other); got != nextB {
		t.Fatalf("other signs with %s", got)
	}
}

func TestReloadSeesAnotherInstancesRotation(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	m1, m2 := env.manager(), env.manager()
	env.clock.Advance(activation)
	if err := m2.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	kid2 := signingKidOf(t, m2)
	if signingKidOf(t, m1) == kid2 {
		t.Fatal("m1 changed without reloading")
	}
	tok2 := mustSign(t, m2, `{}`)
	if err := m1.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := signingKidOf(t, m1); got != kid2 {
		t.Fatalf("after Reload m1 signs with %s, want %s", got, kid2)
	}
	if _, err := m1.Verify(tok2); err != nil {
		t.Fatal(err)
	}
	b1, e1 := m1.JWKS()
	b2, e2 := m2.JWKS()
	if string(b1) != string(b2) || e1 != e2 {
		t.Fatalf("instances serve different JWKS for one set:\n%s\n%s", b1, b2)
	}
}

func TestConcurrentRotationsLeaveOneCurrentKey(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	ms := []*Manager{env.manager(), env.manager()}
	env.clock.Advance(time.Hour) // the next key may activate
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range 10 {
		wg.Go(func() {
			m := ms[i%2]
			if i%3 == 0 {
				errs[i] = m.RotateNow(ctx)
			} else {
				errs[i] = m.Rotate(ctx)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, ErrTooEarly) {
			t.Errorf("call %d: %v", i, err)
		}
	}
	got := env.byState(ES256)
	if got[store.KeyCurrent] != 1 || got[store.KeyNext] != 1 {
		t.Fatalf("states after concurrent rotations: %v", got)
	}
	for _, m := range ms {
		if err := m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := signingKidOf(t, ms[0]), signingKidOf(t, ms[1]); a != b {
		t.Fatalf("instances sign with %s and %s", a, b)
	}
}

func TestMaintainScheduledRotation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		period  time.Duration
		advance time.Duration
		rotates bool
	}{
		{"before the period", time.Hour, time.Hour - time.Second, false},
		{"at the period", time.Hour, time.Hour, true},
		{"period shorter than activation waits for the next key", time.Minute, activation - time.Second, false},
		{"period shorter than activation, next key ready", time.Minute, activation, true},
		{"disabled", -1, 365 * 24 * time.Hour, false},
		{"default period", 0, DefaultRotationPeriod, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			m := env.manager(func(c *Config) { c.RotationPeriod = tt.period })
			kid := signingKidOf(t, m)
			before := env.stored()
			env.clock.Advance(tt.advance)
			if err := m.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			rotated := signingKidOf(t, m) != kid
			if rotated != tt.rotates {
				t.Fatalf("rotated = %v", rotated)
			}
			if !tt.rotates && !slices.EqualFunc(before, env.stored(), func(a, b store.SigningKey) bool {
				return a.ID == b.ID && a.State == b.State
			}) {
				t.Fatal("Maintain wrote with nothing to do")
			}
			if got := env.byState(ES256); got[store.KeyCurrent] != 1 || got[store.KeyNext] != 1 {
				t.Fatalf("states %v", got)
			}
		})
	}
}

func TestMaintainCountsThePeriodFromPromotion(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	m := env.manager(func(c *Config) { c.RotationPeriod = 24 * time.Hour })
	env.clock.Advance(48 * time.Hour) // the first rotation is overdue
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	kid := signingKidOf(t, m)
	if info := keyInfo(t, m, kid); !info.ActivatesAt.Equal(env.clock.Now()) || !info.RotatesAt.Equal(env.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("promoted key %+v", info)
	}
	env.clock.Advance(time.Hour)
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if signingKidOf(t, m) != kid {
		t.Fatal("a key promoted an hour ago was rotated again")
	}
}

func TestPublishAlgorithms(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	m := env.manager(func(c *Config) { c.PublishAlgorithms = []string{EdDSA, ES256, EdDSA} })
	if got := env.byState(EdDSA); got[store.KeyCurrent] != 1 || got[store.KeyNext] != 1 {
		t.Fatalf("EdDSA states %v", got)
	}
	if n := len(env.stored()); n != 4 {
		t.Fatalf("%d keys stored, want 4 (duplicates ignored)", n)
	}
	tok := mustSign(t, m, `{}`)
	if !strings.HasPrefix(tok, b64.EncodeToString([]byte(`{"alg":"ES256"`))) {
		t.Fatal("a published-only algorithm signs")
	}
	body, _ := m.JWKS()
	if n := len(jwksKids(t, body)); n != 4 {
		t.Fatalf("JWKS has %d keys", n)
	}
	ed := keyOf(t, m, EdDSA, store.KeyCurrent)
	if _, err := m.Verify(forge(t, header(EdDSA, ed.ID, "at+jwt"), []byte(`{}`), EdDSA, ed.Signer)); err != nil {
		t.Fatalf("token of a published EdDSA key: %v", err)
	}

	env.clock.Advance(activation)
	if err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{ES256, EdDSA} {
		if got := env.byState(alg); got[store.KeyCurrent] != 1 || got[store.KeyNext] != 1 || got[store.KeyRetired] != 1 {
			t.Fatalf("%s states after Rotate: %v", alg, got)
		}
	}
	// An instance configured without EdDSA (the CLI) still rotates it in an emergency.
	cli := env.manager()
	edCur := keyOf(t, cli, EdDSA, store.KeyCurrent)
	if err := cli.RotateNow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Verify(forge(t, header(EdDSA, edCur.ID, "at+jwt"), []byte(`{}`), EdDSA, edCur.Signer)); err == nil {
		t.Fatal("the current EdDSA key still verifies after RotateNow")
	}
	if _, err := cli.Verify(forge(t, header(EdDSA, ed.ID, "at+jwt"), []byte(`{}`), EdDSA, ed.Signer)); err != nil {
		t.Fatalf("a key retired by the scheduled rotation must stay until its RemoveAt: %v", err)
	}
	for _, alg := range []string{ES256, EdDSA} {
		if got := env.byState(alg); got[store.KeyCurrent] != 1 || got[store.KeyNext] != 1 {
			t.Fatalf("%s states after RotateNow: %v", alg, got)
		}
	}
}

func TestJWKSContainsOnlyPublicParts(t *testing.T) {
	_, ms := allAlgorithms(t)
	body, etag := ms[ES256].JWKS()
	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 || strings.HasPrefix(etag, `W/`) {
		t.Fatalf("ETag %q is not a strong quoted tag", etag)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 6 {
		t.Fatalf("%d keys published, want 6", len(doc.Keys))
	}
	wantKty := map[string]string{ES256: "EC", RS256: "RSA", EdDSA: "OKP"}
	for _, k := range doc.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS leaks private member %q: %v", private, k)
			}
		}
		alg, _ := k["alg"].(string)
		if k["kty"] != wantKty[alg] || k["use"] != "sig" || k["kid"] == "" || k["kid"] == nil {
			t.Fatalf("JWK %v lacks kid/kty/alg/use=sig", k)
		}
	}
	// Same set → byte-identical document on every instance, whatever the
	// order the managers were built in; repeated calls are stable.
	for alg, m := range ms {
		b, e := m.JWKS()
		if string(b) != string(body) || e != etag {
			t.Fatalf("%s manager serves another JWKS", alg)
		}
	}
	if b, e := ms[ES256].JWKS(); string(b) != string(body) || e != etag {
		t.Fatal("JWKS not stable")
	}
	// Current keys come first (clients that take the first key get one that signs).
	var currents []string
	for _, k := range ms[ES256].Keys() {
		if k.State == store.KeyCurrent {
			currents = append(currents, k.ID)
		}
	}
	for i := range currents {
		if kid, _ := doc.Keys[i]["kid"].(string); !slices.Contains(currents, kid) {
			t.Fatalf("JWKS key %d (%s) is not a current key", i, kid)
		}
	}
}

func TestKeysList(t *testing.T) {
	env := newEnv(t)
	m := env.manager()
	list := m.Keys()
	if len(list) != 2 {
		t.Fatalf("Keys() = %d entries", len(list))
	}
	var signing int
	for _, k := range list {
		if k.Signing {
			signing++
			if k.State != store.KeyCurrent || !k.RotatesAt.Equal(k.ActivatesAt.Add(DefaultRotationPeriod)) {
				t.Fatalf("signing key info %+v", k)
			}
		}
		if !k.Published || k.Algorithm != ES256 || k.ID == "" || k.CreatedAt.IsZero() {
			t.Fatalf("key info %+v", k)
		}
	}
	if signing != 1 {
		t.Fatalf("%d signing keys listed", signing)
	}
	if m.MaxAge() != DefaultMaxAge || m.Algorithm() != ES256 {
		t.Fatalf("MaxAge %v Algorithm %s", m.MaxAge(), m.Algorithm())
	}
}
