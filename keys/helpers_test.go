package keys

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
)

// clock is a settable test clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestSealer(t testing.TB) *Sealer {
	t.Helper()
	kek, err := RandomKEK()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testEnv is one store shared by the managers of a test.
type testEnv struct {
	t      testing.TB
	clock  *clock
	store  *memory.Store
	sealer *Sealer
}

func newEnv(t testing.TB) *testEnv {
	c := newClock()
	return &testEnv{t: t, clock: c, store: memory.New(c.Now), sealer: newTestSealer(t)}
}

func (e *testEnv) config() Config {
	return Config{Store: e.store, Sealer: e.sealer, Now: e.clock.Now}
}

func (e *testEnv) manager(opts ...func(*Config)) *Manager {
	e.t.Helper()
	cfg := e.config()
	for _, o := range opts {
		o(&cfg)
	}
	m, err := NewManager(context.Background(), cfg)
	if err != nil {
		e.t.Fatalf("NewManager: %v", err)
	}
	return m
}

func (e *testEnv) stored() []store.SigningKey {
	e.t.Helper()
	set, err := e.store.Keys(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return set
}

// byState counts the stored keys of alg per state.
func (e *testEnv) byState(alg string) map[store.KeyState]int {
	out := map[store.KeyState]int{}
	for _, k := range e.stored() {
		if k.Algorithm == alg {
			out[k.State]++
		}
	}
	return out
}

// activation is how long a new next key waits with the default Config.
const activation = DefaultMaxAge + DefaultMargin

// retention is how long a retired key stays published with the defaults.
const retention = DefaultMaxTokenTTL + DefaultMaxAge + DefaultMargin

func mustSign(t testing.TB, m *Manager, payload string) string {
	t.Helper()
	tok, err := m.Sign([]byte(payload))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

func kidOf(t testing.TB, token string) string {
	t.Helper()
	h, _, _, err := jws.SplitCompactString(token)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b64.DecodeString(string(h))
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

func signingKidOf(t testing.TB, m *Manager) string {
	t.Helper()
	return kidOf(t, mustSign(t, m, `{}`))
}

// forge builds a compact JWS with an arbitrary protected header (raw JSON),
// signed by key under alg, so a test can vary one header member while the
// signature stays valid.
func forge(t testing.TB, header string, payload []byte, alg string, key any) string {
	t.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(payload)
	var sig []byte
	switch alg {
	case "none":
	case "HS256":
		mac := hmac.New(sha256.New, key.([]byte))
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	default:
		jalg, ok := jwa.LookupSignatureAlgorithm(alg)
		if !ok {
			t.Fatalf("unknown alg %s", alg)
		}
		s, err := jws.SignerFor(jalg)
		if err != nil {
			t.Fatal(err)
		}
		if sig, err = s.Sign(key, []byte(input)); err != nil {
			t.Fatalf("forge %s: %v", alg, err)
		}
	}
	return input + "." + b64.EncodeToString(sig)
}

func header(alg, kid, typ string) string {
	b, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": typ})
	return string(b)
}
