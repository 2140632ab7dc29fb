package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/store"
)

// Config configures a Manager. Zero durations take the defaults below.
type Config struct {
	// Store holds the key set (required for NewManager).
	Store store.KeyStore
	// Sealer seals private keys at rest (required for NewManager).
	Sealer *Sealer
	// Algorithm signs access tokens: ES256 (default), RS256 or EdDSA.
	Algorithm string
	// PublishAlgorithms are further algorithms whose keys are kept published,
	// each with its own lifecycle, so resource servers already hold them
	// when Algorithm is switched to one of them. They never sign.
	PublishAlgorithms []string
	// RotationPeriod is how long a key signs before Run rotates it.
	// Zero means 30 days; a negative value disables scheduled rotation
	// (Rotate and RotateNow still work).
	RotationPeriod time.Duration
	// MaxAge is the JWKS Cache-Control max-age. Default 10 minutes.
	MaxAge time.Duration
	// Margin is added to every wait for clock skew and propagation.
	// Default 1 minute.
	Margin time.Duration
	// MaxTokenTTL is the longest access-token lifetime of any client.
	// Default 15 minutes.
	MaxTokenTTL time.Duration
	// RefreshInterval is how often Run re-reads the set and checks the
	// schedule. Default 30 seconds.
	RefreshInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives lifecycle events (never key material). Default: discard.
	Logger *slog.Logger
	// Audit receives a key.rotated event per rotation (planned, scheduled or
	// emergency). Nil means none.
	Audit audit.Sink
}

// Defaults of Config.
const (
	DefaultRotationPeriod  = 30 * 24 * time.Hour
	DefaultMaxAge          = 10 * time.Minute
	DefaultMargin          = time.Minute
	DefaultMaxTokenTTL     = 15 * time.Minute
	DefaultRefreshInterval = 30 * time.Second
)

func (c *Config) normalize() error {
	if c.Algorithm == "" {
		c.Algorithm = DefaultAlgorithm
	}
	if err := checkAlgorithm(c.Algorithm); err != nil {
		return err
	}
	var extra []string
	for _, alg := range c.PublishAlgorithms {
		if err := checkAlgorithm(alg); err != nil {
			return fmt.Errorf("keys: PublishAlgorithms: %w", err)
		}
		if alg != c.Algorithm && !slices.Contains(extra, alg) {
			extra = append(extra, alg)
		}
	}
	c.PublishAlgorithms = extra
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"MaxAge", &c.MaxAge, DefaultMaxAge},
		{"Margin", &c.Margin, DefaultMargin},
		{"MaxTokenTTL", &c.MaxTokenTTL, DefaultMaxTokenTTL},
		{"RefreshInterval", &c.RefreshInterval, DefaultRefreshInterval},
	} {
		if *d.v < 0 {
			return fmt.Errorf("keys: %s must not be negative, got %s", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.RotationPeriod == 0 {
		c.RotationPeriod = DefaultRotationPeriod
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Manager signs and verifies access tokens and runs the key lifecycle. It is
// safe for concurrent use; Sign, Verify and JWKS never block.
type Manager struct {
	cfg    Config
	policy policy
	store  store.KeyStore // nil for PEM keys
	sealer *Sealer
	log    *slog.Logger
	audit  audit.Sink

	snap atomic.Pointer[snapshot]
	// loadMu serialises snapshot replacement from the store, so a slow
	// reload never overwrites a newer set.
	loadMu sync.Mutex
	// lastLoad is when the set was last read successfully (Unix nanoseconds).
	lastLoad atomic.Int64
	// running is set while Run is refreshing the set; only then can the set
	// go stale.
	running atomic.Bool
}

// NewManager loads the key set from cfg.Store. If the configured algorithms
// lack a current or a next key it creates them in one UpdateKeys (deciding
// inside it, so instances starting together create one set). It fails,
// wrapping ErrWrongKEK, when a stored key does not open under cfg.Sealer, and
// before writing anything.
func NewManager(ctx context.Context, cfg Config) (*Manager, error) {
	m, err := loadManager(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := m.ensure(ctx); err != nil {
		return nil, err
	}
	if m.snap.Load().signer == nil {
		return nil, fmt.Errorf("keys: the key set has no current %s key", cfg.Algorithm)
	}
	return m, nil
}

func newManager(cfg Config) *Manager {
	return &Manager{
		cfg: cfg,
		policy: policy{
			maxAge: cfg.MaxAge, margin: cfg.Margin,
			maxTokenTTL: cfg.MaxTokenTTL, rotationPeriod: cfg.RotationPeriod,
		},
		log:   cfg.Logger,
		audit: audit.OrDiscard(cfg.Audit),
	}
}

// algorithms lists the algorithms this instance keeps alive, signing first.
func (m *Manager) algorithms() []string {
	return append([]string{m.cfg.Algorithm}, m.cfg.PublishAlgorithms...)
}

// current returns the live snapshot, rebuilt first if a retired key has
// passed its RemoveAt since it was built (no store access needed).
func (m *Manager) current() *snapshot {
	s := m.snap.Load()
	now := m.cfg.Now()
	if s == nil || !s.stale(now) {
		return s
	}
	fresh, err := buildSnapshot(s.fingerprint, s.entries, m.cfg.Algorithm, now)
	if err != nil {
		// The same entries built before; only the clock changed, so this
		// cannot fail in practice. Keep serving the old snapshot.
		m.log.Error("keys: rebuild key set", "err", err)
		return s
	}
	if m.snap.CompareAndSwap(s, fresh) {
		return fresh
	}
	return m.snap.Load()
}

// Sign returns payload as a compact JWS signed by the current key, with the
// protected header {"alg","kid","typ":"at+jwt"} (RFC 9068 §2.1).
func (m *Manager) Sign(payload []byte) (string, error) {
	s := m.snap.Load()
	if s == nil || s.signer == nil {
		return "", fmt.Errorf("keys: sign: no current %s key", m.cfg.Algorithm)
	}
	return s.signer.sign(payload)
}

// Verify checks token's signature against the published keys and returns its
// payload; every error wraps ErrInvalidToken. It does not check claims.
func (m *Manager) Verify(token string) ([]byte, error) {
	s := m.snap.Load()
	if s == nil {
		return nil, invalid("no keys loaded")
	}
	return verifyCompact(token, s.verify, m.cfg.Now())
}

// JWKS returns the JWK Set document (RFC 7517 §5) of the published keys and
// its strong ETag. Both are built once per change of the set; the caller
// must not modify the bytes.
func (m *Manager) JWKS() (body []byte, etag string) {
	s := m.current()
	if s == nil {
		return []byte(`{"keys":[]}`), `""`
	}
	return s.jwks, s.etag
}

// MaxAge is the Cache-Control max-age for the JWKS response.
func (m *Manager) MaxAge() time.Duration { return m.cfg.MaxAge }

// Algorithm is the signing algorithm.
func (m *Manager) Algorithm() string { return m.cfg.Algorithm }

// RotationPeriod is how long a key signs before scheduled rotation
// replaces it; zero when nothing rotates on a schedule (rotation disabled,
// or keys from PEM files). Monitoring compares the current key's age to it.
func (m *Manager) RotationPeriod() time.Duration {
	if m.store == nil || m.policy.rotationPeriod <= 0 {
		return 0
	}
	return m.policy.rotationPeriod
}

// Ready returns nil when a current key can sign and, while Run is running,
// the set has been re-read recently (a stale set could still accept a key
// that another instance unpublished in an emergency rotation).
func (m *Manager) Ready() error {
	s := m.snap.Load()
	if s == nil || s.signer == nil {
		return fmt.Errorf("keys: no current %s signing key", m.cfg.Algorithm)
	}
	if m.running.Load() && m.store != nil {
		last := time.Unix(0, m.lastLoad.Load())
		if age := m.cfg.Now().Sub(last); age > 3*m.cfg.RefreshInterval+m.cfg.Margin {
			return fmt.Errorf("keys: signing keys not re-read from the store for %s", age.Round(time.Second))
		}
	}
	return nil
}

// Reload re-reads the set from the store and replaces the snapshot if the set
// changed. On error the previous snapshot stays live. A Manager with PEM keys
// has nothing to reload.
func (m *Manager) Reload(ctx context.Context) error {
	if m.store == nil {
		return nil
	}
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	set, err := m.store.Keys(ctx)
	if err != nil {
		return fmt.Errorf("keys: read key set: %w", err)
	}
	return m.applyLocked(set)
}

// apply installs a set just written by UpdateKeys.
func (m *Manager) apply(set []store.SigningKey) error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	return m.applyLocked(set)
}

func (m *Manager) applyLocked(set []store.SigningKey) error {
	now := m.cfg.Now()
	prev := m.snap.Load()
	fp := fingerprint(set)
	if prev != nil && prev.fingerprint == fp {
		m.lastLoad.Store(now.UnixNano())
		return nil
	}
	entries, err := openEntries(set, m.sealer, prev)
	if err != nil {
		return err
	}
	s, err := buildSnapshot(fp, entries, m.cfg.Algorithm, now)
	if err != nil {
		return err
	}
	m.snap.Store(s)
	m.lastLoad.Store(now.UnixNano())
	if prev != nil {
		m.log.Info("keys: key set changed", "signing_kid", signingKid(s), "published", len(s.verify))
	}
	return nil
}

func signingKid(s *snapshot) string {
	if s.signer == nil {
		return ""
	}
	return s.signer.kid
}

// KeyInfo describes one key for listing (tokenserver keys list). It holds no
// key material.
type KeyInfo struct {
	ID        string
	Algorithm string
	State     store.KeyState
	// Signing is true for the key that signs new tokens.
	Signing bool
	// Published is true while the key is in the JWKS and verifies tokens.
	Published bool
	CreatedAt time.Time
	// ActivatesAt: for a next key, the earliest time it may become current;
	// for a current key, when it became current.
	ActivatesAt time.Time
	// RotatesAt is, for a current key, when scheduled rotation is due (zero
	// if disabled or for PEM keys).
	RotatesAt time.Time
	RetiredAt time.Time
	// RemoveAt is when a retired key leaves the JWKS; zero otherwise.
	RemoveAt time.Time
}

// Keys lists the set as of the last load, ordered by creation time.
func (m *Manager) Keys() []KeyInfo {
	s := m.current()
	if s == nil {
		return nil
	}
	now := m.cfg.Now()
	out := make([]KeyInfo, 0, len(s.entries))
	for _, e := range s.entries {
		k := e.meta
		info := KeyInfo{
			ID: k.ID, Algorithm: k.Algorithm, State: k.State,
			Signing:   s.signer != nil && s.signer.kid == k.ID,
			Published: e.published(now),
			CreatedAt: k.CreatedAt, ActivatesAt: k.ActivatesAt, RetiredAt: k.RetiredAt, RemoveAt: k.RemoveAt,
		}
		if k.State == store.KeyCurrent && m.store != nil && m.policy.rotationPeriod > 0 {
			info.RotatesAt = k.ActivatesAt.Add(m.policy.rotationPeriod)
		}
		out = append(out, info)
	}
	slices.SortStableFunc(out, func(a, b KeyInfo) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// loadManager validates cfg and loads the stored key set, changing nothing
// (NewManager then creates what is missing; List only reads).
func loadManager(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("keys: Config.Store is required")
	}
	if cfg.Sealer == nil {
		return nil, errors.New("keys: Config.Sealer is required")
	}
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	m := newManager(cfg)
	m.store, m.sealer = cfg.Store, cfg.Sealer
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	return m, nil
}
