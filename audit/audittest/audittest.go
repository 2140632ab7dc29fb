// Package audittest holds test helpers for code that emits audit events: a
// recording Sink and a check that the rendered events hold no secret. It is
// imported by tests only (like store/storetest), so it may import testing.
package audittest

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/audit"
)

// Recorder is an audit.Sink that keeps every event it is given. It is safe
// for concurrent use: servers emit from request goroutines while the test
// reads.
type Recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

// Emit records e.
func (r *Recorder) Emit(_ context.Context, e audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// Events returns a copy of the events recorded so far, keeping them.
func (r *Recorder) Events() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]audit.Event(nil), r.events...)
}

// Take returns the events recorded since the last Take and forgets them, so
// a test can drop what its setup emitted and look at one step at a time.
func (r *Recorder) Take() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

// Types returns the types of the events recorded so far, in order.
func (r *Recorder) Types() []audit.Type {
	r.mu.Lock()
	defer r.mu.Unlock()
	types := make([]audit.Type, len(r.events))
	for i, e := range r.events {
		types[i] = e.Type
	}
	return types
}

// Render encodes events through the real audit.Writer, as the audit log
// would hold them, and fails the test unless every line is a JSON object.
func Render(t testing.TB, events ...audit.Event) string {
	t.Helper()
	var b strings.Builder
	w := audit.NewWriter(&b, time.Now)
	for _, e := range events {
		w.Emit(context.Background(), e)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l != "" && !json.Valid([]byte(l)) {
			t.Fatalf("audit line is not JSON: %q", l)
		}
	}
	return b.String()
}

// AssertNoSecrets renders events as the audit log would and reports every
// one of forbidden (secrets, passwords, tokens, usernames) found in it. The
// match ignores case, so "Alice" is caught for "alice"; empty strings are
// skipped.
func AssertNoSecrets(t testing.TB, events []audit.Event, forbidden ...string) {
	t.Helper()
	out := Render(t, events...)
	lower := strings.ToLower(out)
	for _, s := range forbidden {
		if s != "" && strings.Contains(lower, strings.ToLower(s)) {
			t.Errorf("audit log holds %q:\n%s", s, out)
		}
	}
}
