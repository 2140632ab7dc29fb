package faults_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/internal/e2etest"
	"github.com/tokenserver/tokenserver/verifier"
)

// maxStaleness is the verifiers' MaxStaleness: short, so a lost feed fails
// closed quickly.
const maxStaleness = 3 * time.Second

// pushVerifier is an in-process resource server: a verifier.Verifier with a
// push revocation feed, and a monitor of that feed's health.
type pushVerifier struct {
	name string
	v    *verifier.Verifier
	push *verifier.Push

	mu           sync.Mutex
	healthySince time.Time // zero while the feed is disconnected
}

// newSSEVerifier subscribes to the server's /revocations/stream as the
// confidential client clientID.
func newSSEVerifier(t *testing.T, issuer, clientID, secret string) *pushVerifier {
	t.Helper()
	return newPushVerifier(t, "sse verifier", issuer, verifier.SSESource(issuer, clientID, secret, nil))
}

// newRedisVerifier subscribes to the Redis channel directly, with the Redis
// store's Active as the snapshot.
func newRedisVerifier(t *testing.T, issuer, redisURL, prefix string) *pushVerifier {
	t.Helper()
	return newPushVerifier(t, "redis verifier", issuer, e2etest.RedisFeedSource(t, redisURL, prefix))
}

func newPushVerifier(t *testing.T, name, issuer string, src verifier.Source) *pushVerifier {
	t.Helper()
	pv := &pushVerifier{name: name}
	pv.v, pv.push = e2etest.StartPushVerifier(t, name, issuer, src, maxStaleness)
	// The monitor has its own context: its cleanup, registered after the
	// feed's, runs first and must not wait for the feed to stop.
	ctx, cancel := context.WithCancel(context.Background())
	monitorDone := make(chan struct{})
	t.Cleanup(func() { cancel(); <-monitorDone })
	go pv.monitor(ctx, monitorDone)
	return pv
}

// monitor samples the feed's health: healthySince is when it last went from
// disconnected to connected.
func (pv *pushVerifier) monitor(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		connected := pv.push.Staleness() == 0
		pv.mu.Lock()
		switch {
		case !connected:
			pv.healthySince = time.Time{}
		case pv.healthySince.IsZero():
			pv.healthySince = time.Now()
		}
		pv.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// healthyFor reports whether the feed has been connected for at least d,
// counting only from notBefore (the end of a fault: a feed that looked
// connected during the fault proves nothing).
func (pv *pushVerifier) healthyFor(d time.Duration, notBefore time.Time) bool {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	if pv.healthySince.IsZero() {
		return false
	}
	since := pv.healthySince
	if since.Before(notBefore) {
		since = notBefore
	}
	return time.Since(since) >= d
}

// accepts reports whether the verifier accepts token (Verify returns nil).
// Any error — revoked, invalid, or revocation status unavailable (fail
// closed) — is a rejection.
func (pv *pushVerifier) accepts(token string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	_, err := pv.v.Verify(ctx, token)
	return err == nil, err
}
