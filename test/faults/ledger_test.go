package faults_test

import (
	"fmt"
	"sync"
	"time"
)

// call is one HTTP exchange with the token server, as the scenario saw it.
type call struct {
	what         string // "password", "refresh", "introspect", "revoke", …
	path         string
	start        time.Time
	took         time.Duration
	status       int    // 0 when no response arrived
	errCode      string // the OAuth error code of an error response
	retryAfter   string
	cacheControl string
	err          error // transport error (a timeout is a hang)
}

// revokedToken is a token whose revocation completed (the /revoke answer or
// the admin command returned) at revokedAt; from then on no one may accept
// it.
type revokedToken struct {
	access, refresh string
	how             string
	revokedAt       time.Time
}

// ledger is everything a scenario observed: every call, every token revoked,
// and every broken promise noticed while the load ran. Safe for concurrent
// use.
type ledger struct {
	mu         sync.Mutex
	calls      []call
	revoked    []revokedToken
	refreshed  map[string]int // refresh token → successful refreshes with it
	violations map[string]*violation
	order      []string // violation kinds in the order first seen
}

// violation is one kind of broken promise seen under load: how often, and
// the first instance's details.
type violation struct {
	count int
	first string
}

func newLedger() *ledger {
	return &ledger{refreshed: map[string]int{}, violations: map[string]*violation{}}
}

func (l *ledger) record(c call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// violate records a broken promise of the given kind; details say which
// instance (counted, first one kept).
func (l *ledger) violate(kind, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.violations[kind]
	if v == nil {
		v = &violation{first: fmt.Sprintf(format, args...)}
		l.violations[kind] = v
		l.order = append(l.order, kind)
	}
	v.count++
}

// refreshSucceeded counts a 200 to a refresh with rt; a second one means
// the refresh token was used twice (a duplicated family).
func (l *ledger) refreshSucceeded(rt string) {
	l.mu.Lock()
	l.refreshed[rt]++
	n := l.refreshed[rt]
	l.mu.Unlock()
	if n > 1 {
		l.violate("family duplicated: one refresh token succeeded twice", "%d successes", n)
	}
}

func (l *ledger) addRevoked(r revokedToken) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.revoked = append(l.revoked, r)
}

// revokedSnapshot returns the revoked tokens so far.
func (l *ledger) revokedSnapshot() []revokedToken {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]revokedToken(nil), l.revoked...)
}

// callsSince returns the calls that started at or after t.
func (l *ledger) callsSince(t time.Time) []call {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []call
	for _, c := range l.calls {
		if !c.start.Before(t) {
			out = append(out, c)
		}
	}
	return out
}

// violationsReport returns one line per kind of violation.
func (l *ledger) violationsReport() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, kind := range l.order {
		v := l.violations[kind]
		out = append(out, fmt.Sprintf("%s: %d time(s), first: %s", kind, v.count, v.first))
	}
	return out
}
