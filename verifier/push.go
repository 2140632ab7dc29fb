package verifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// Push defaults.
const (
	// DefaultMaxStaleness: Revoked fails closed once the feed has been
	// disconnected for longer than this.
	DefaultMaxStaleness  = 30 * time.Second
	DefaultMinBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultPruneInterval = time.Minute
	// unboundedEntryLifetime is how long an entry without expires_at is
	// kept; the issuer always sets it, so this only guards against a
	// malformed entry living forever.
	unboundedEntryLifetime = 24 * time.Hour
)

// PushConfig configures a Push revocation checker.
type PushConfig struct {
	// Source is where revocations come from. Required.
	Source Source
	// MaxStaleness is how long Revoked keeps answering from the in-memory
	// set after the source disconnected; beyond it Revoked returns
	// ErrRevocationUnavailable, so tokens are refused rather than accepted
	// with an unknown revocation status (fail closed). Zero means
	// DefaultMaxStaleness (30 s); negative means never fail closed once
	// synchronised (accepting that revocations may be missed).
	MaxStaleness time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential reconnect
	// delay. Zero means the defaults (250 ms, 30 s).
	MinBackoff, MaxBackoff time.Duration
	// PruneInterval is how often entries past their ExpiresAt are dropped.
	// Zero means DefaultPruneInterval.
	PruneInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives connection events. Nil discards.
	Logger *slog.Logger
}

// Push is a RevocationChecker answering from an in-memory copy of the
// issuer's denylist, kept current by a Source. Revoked costs a read lock and
// up to four map lookups. Until the first snapshot arrives, and after the
// source has been disconnected for longer than MaxStaleness, Revoked returns
// ErrRevocationUnavailable.
type Push struct {
	src           Source
	maxStaleness  time.Duration
	minBackoff    time.Duration
	maxBackoff    time.Duration
	pruneInterval time.Duration
	now           func() time.Time
	logger        *slog.Logger

	mu sync.RWMutex
	// entries is the denylist, merged and matched by the rules every copy
	// of it shares (store.MergeRevocations, store.Revocation.Matches). kid
	// entries (keys an emergency rotation revoked) refuse every token the
	// key signed, whatever the JWKS still says.
	entries map[entryKey]store.Revocation
	// kidListeners are told about each newly revoked kid (verifiers drop
	// the key from their JWKS cache); see onKIDRevoked.
	kidMu        sync.Mutex
	kidListeners []func(kid string)
	// synced: a snapshot has been loaded at least once.
	synced bool
	// connected: the source is streaming and has delivered its snapshot.
	connected bool
	// lastAlive is when the source last proved alive (or the start time).
	lastAlive time.Time
	// lastErr is why the source last disconnected.
	lastErr error

	ready     chan struct{}
	readyOnce sync.Once
	done      chan struct{}
}

// entryKey identifies a denylist entry: later revocations of the same key
// merge into it.
type entryKey struct {
	kind  store.RevocationKind
	value string
}

// NewPush starts listening to cfg.Source in the background until ctx ends
// (see Done). It returns at once; use Ready to wait for the first snapshot.
func NewPush(ctx context.Context, cfg PushConfig) (*Push, error) {
	if cfg.Source == nil {
		return nil, errors.New("verifier: PushConfig.Source is required")
	}
	p := &Push{
		src:           cfg.Source,
		maxStaleness:  cfg.MaxStaleness,
		minBackoff:    cfg.MinBackoff,
		maxBackoff:    cfg.MaxBackoff,
		pruneInterval: cfg.PruneInterval,
		now:           cfg.Now,
		logger:        cfg.Logger,
		entries:       map[entryKey]store.Revocation{},
		ready:         make(chan struct{}),
		done:          make(chan struct{}),
	}
	if p.maxStaleness == 0 {
		p.maxStaleness = DefaultMaxStaleness
	}
	if p.minBackoff <= 0 {
		p.minBackoff = DefaultMinBackoff
	}
	if p.maxBackoff <= 0 {
		p.maxBackoff = DefaultMaxBackoff
	}
	p.maxBackoff = max(p.maxBackoff, p.minBackoff)
	if p.pruneInterval <= 0 {
		p.pruneInterval = DefaultPruneInterval
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	p.lastAlive = p.now()
	var wg sync.WaitGroup
	wg.Go(func() { p.run(ctx) })
	wg.Go(func() { p.pruneLoop(ctx) })
	go func() { wg.Wait(); close(p.done) }()
	return p, nil
}

// Revoked implements RevocationChecker. Errors wrap ErrRevocationUnavailable.
func (p *Push) Revoked(_ context.Context, c *Claims) (bool, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.connected {
		if !p.synced {
			return false, fmt.Errorf("%w: revocation feed not synchronised yet", ErrRevocationUnavailable)
		}
		if p.maxStaleness > 0 {
			if stale := p.now().Sub(p.lastAlive); stale > p.maxStaleness {
				return false, fmt.Errorf("%w: revocation feed disconnected for %s", ErrRevocationUnavailable, stale.Round(time.Second))
			}
		}
	}
	q := store.RevocationQuery{JTI: c.JTI, SID: c.SID, Sub: c.Subject, KID: c.KeyID, IssuedAt: c.IssuedAt}
	now := p.now()
	for _, k := range [...]entryKey{{store.RevokeJTI, c.JTI}, {store.RevokeSID, c.SID}, {store.RevokeSub, c.Subject}, {store.RevokeKID, c.KeyID}} {
		if k.value == "" {
			continue
		}
		if e, ok := p.entries[k]; ok && e.Matches(q, now) {
			return true, nil
		}
	}
	return false, nil
}

// Staleness is how long the in-memory set may have been missing
// revocations: zero while the source is connected (a connected source
// guarantees a recent message or heartbeat), otherwise the time since the
// source last proved alive, growing while it is down.
func (p *Push) Staleness() time.Duration {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.connected {
		return 0
	}
	return max(p.now().Sub(p.lastAlive), 0)
}

// Ready waits until the first snapshot has been loaded, or ctx ends (then
// it returns the context error joined with the last connection error).
func (p *Push) Ready(ctx context.Context) error {
	select {
	case <-p.ready:
		return nil
	case <-ctx.Done():
		p.mu.RLock()
		last := p.lastErr
		p.mu.RUnlock()
		return errors.Join(ctx.Err(), last)
	}
}

// Done is closed when the background goroutines have stopped (after the
// context given to NewPush ended).
func (p *Push) Done() <-chan struct{} { return p.done }

// Len is the number of entries held.
func (p *Push) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.entries)
}

// run calls Source.Stream again and again with jittered exponential backoff,
// reset whenever a stream delivered a snapshot.
func (p *Push) run(ctx context.Context) {
	backoff := p.minBackoff
	for {
		s := &pushSink{p: p}
		err := p.src.Stream(ctx, s)
		p.mu.Lock()
		p.connected = false
		p.lastErr = err
		p.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if s.synced {
			backoff = p.minBackoff
		}
		p.logger.Warn("verifier: revocation feed disconnected; reconnecting", "error", err, "retry_in", backoff)
		// Full jitter in [backoff/2, backoff) spreads reconnecting servers.
		delay := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, p.maxBackoff)
	}
}

func (p *Push) pruneLoop(ctx context.Context) {
	t := time.NewTicker(p.pruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.prune(p.now())
		}
	}
}

// prune drops entries whose ExpiresAt has passed: every token they match
// has expired by then.
func (p *Push) prune(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range p.entries {
		if !now.Before(e.ExpiresAt) {
			delete(p.entries, k)
		}
	}
}

// addLocked merges r. For one (kind, value) the latest NotBefore and
// ExpiresAt win, as in store.RevocationStore. newKID reports a kid
// revocation the set did not hold yet. p.mu must be held.
func (p *Push) addLocked(r store.Revocation, now time.Time) (newKID bool) {
	if r.Value == "" {
		return false
	}
	exp := r.ExpiresAt
	if exp.IsZero() {
		exp = now.Add(unboundedEntryLifetime)
	}
	if !now.Before(exp) {
		return false // matches no token that could still be valid
	}
	switch r.Kind {
	case store.RevokeJTI, store.RevokeSID, store.RevokeSub, store.RevokeKID:
	default:
		p.logger.Warn("verifier: revocation of unknown kind ignored", "kind", r.Kind)
		return false
	}
	r.ExpiresAt = exp
	k := entryKey{r.Kind, r.Value}
	old, ok := p.entries[k]
	if ok {
		r = store.MergeRevocations(old, r)
	}
	p.entries[k] = r
	return r.Kind == store.RevokeKID && !ok
}

// pushSink is the Sink of one Stream call.
type pushSink struct {
	p      *Push
	synced bool
}

// Snapshot merges rather than replaces: a revocation is never withdrawn, so
// a snapshot lacking an entry already known (from a lagging replica or a
// restarted in-memory issuer) must not make a revoked token valid again.
// Expired entries leave through pruning.
func (s *pushSink) Snapshot(rs []store.Revocation) {
	p := s.p
	now := p.now()
	var kids []string
	p.mu.Lock()
	for _, r := range rs {
		if p.addLocked(r, now) {
			kids = append(kids, r.Value)
		}
	}
	p.synced, p.connected, p.lastAlive = true, true, now
	n := len(p.entries)
	p.mu.Unlock()
	p.notifyKIDs(kids)
	s.synced = true
	p.readyOnce.Do(func() { close(p.ready) })
	p.logger.Info("verifier: revocation snapshot loaded", "received", len(rs), "held", n)
}

func (s *pushSink) Revoke(r store.Revocation) {
	p := s.p
	now := p.now()
	p.mu.Lock()
	newKID := p.addLocked(r, now)
	p.lastAlive = now
	p.mu.Unlock()
	if newKID {
		p.notifyKIDs([]string{r.Value})
	}
}

func (s *pushSink) Heartbeat() {
	p := s.p
	now := p.now()
	p.mu.Lock()
	p.lastAlive = now
	p.mu.Unlock()
}
