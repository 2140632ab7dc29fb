package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// LoggedRevocations is a durable revocation record with its change log.
type LoggedRevocations interface {
	store.RevocationStore
	store.RevocationLog
}

// suiteChanges reads the log after `after` in pages of limit until it is
// exhausted, and returns the entries and the final position.
func suiteChanges(t *testing.T, s store.RevocationLog, after int64, limit int) ([]store.Revocation, int64) {
	t.Helper()
	var all []store.Revocation
	for {
		page, next, err := s.RevocationsAfter(t.Context(), after, limit)
		if err != nil {
			t.Fatalf("RevocationsAfter(%d): %v", after, err)
		}
		if len(page) > limit {
			t.Fatalf("RevocationsAfter returned %d entries, limit %d", len(page), limit)
		}
		if len(page) > 0 && next <= after {
			t.Fatalf("RevocationsAfter(%d) returned entries but position %d", after, next)
		}
		all, after = append(all, page...), next
		if len(page) < limit {
			return all, after
		}
	}
}

// TestRevocationLog runs the conformance suite for store.RevocationLog.
// newStore must return a fresh, empty store for each call.
func TestRevocationLog(t *testing.T, newStore func(*testing.T) LoggedRevocations) {
	t.Run("ListsChangesInOrderOnce", func(t *testing.T) {
		s := newStore(t)
		now := suiteNow()
		head, err := s.RevocationHead(t.Context())
		suiteCheckErr(t, "RevocationHead", err, nil)
		if got, _ := suiteChanges(t, s, head, 10); len(got) != 0 {
			t.Fatalf("empty log lists %d entries after its head", len(got))
		}
		a := suiteRevocation(store.RevokeJTI, "a-"+suiteName(t, "v"), now)
		b := suiteRevocation(store.RevokeSID, "b-"+suiteName(t, "v"), now)
		suiteRevoke(t, s, a)
		suiteRevoke(t, s, b)
		got, pos := suiteChanges(t, s, head, 10)
		if len(got) != 2 || got[0].Value != a.Value || got[1].Value != b.Value {
			t.Fatalf("changes = %v, want a then b", got)
		}
		if again, _ := suiteChanges(t, s, pos, 10); len(again) != 0 {
			t.Fatalf("changes after the last position: %v, want none", again)
		}
		if h, _ := s.RevocationHead(t.Context()); h < pos {
			t.Errorf("head %d is behind the last listed position %d", h, pos)
		}

		// A merge is a change: the entry is listed again, merged.
		later := a
		later.ExpiresAt = a.ExpiresAt.Add(time.Hour)
		suiteRevoke(t, s, later)
		got, _ = suiteChanges(t, s, pos, 10)
		if len(got) != 1 || got[0].Value != a.Value {
			t.Fatalf("changes after a merge = %v, want a once", got)
		}
		if d := suiteTimeDiff("ExpiresAt", got[0].ExpiresAt, later.ExpiresAt); d != "" {
			t.Errorf("merged entry: %s", d)
		}
		// Everything from the start lists each entry once, at its latest change.
		if all, _ := suiteChanges(t, s, head, 10); len(all) != 2 || all[0].Value != b.Value || all[1].Value != a.Value {
			t.Errorf("changes from the start = %v, want b then a", all)
		}
	})

	t.Run("Pages", func(t *testing.T) {
		s := newStore(t)
		head, err := s.RevocationHead(t.Context())
		suiteCheckErr(t, "RevocationHead", err, nil)
		now := suiteNow()
		for i := range 5 {
			suiteRevoke(t, s, suiteRevocation(store.RevokeJTI, fmt.Sprintf("p%d-%s", i, suiteName(t, "v")), now))
		}
		got, _ := suiteChanges(t, s, head, 2)
		if len(got) != 5 {
			t.Fatalf("paged changes: %d entries, want 5", len(got))
		}
		if page, next, err := s.RevocationsAfter(t.Context(), head, 0); err != nil || len(page) != 0 || next != head {
			t.Errorf("limit 0 = %v, %d, %v; want nothing at the same position", page, next, err)
		}
	})

	t.Run("ConcurrentWritersNeverSkipped", func(t *testing.T) {
		// A reader that follows the log while writers commit sees every
		// change: a position is never handed to a change committing before
		// an already listed one.
		s := newStore(t)
		head, err := s.RevocationHead(t.Context())
		suiteCheckErr(t, "RevocationHead", err, nil)
		const writers, each = 8, 10
		now := suiteNow()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					r := suiteRevocation(store.RevokeJTI, fmt.Sprintf("w%d-%d-%s", w, i, suiteName(t, "v")), now)
					if err := s.Revoke(t.Context(), r); err != nil {
						t.Errorf("Revoke: %v", err)
					}
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		seen := map[string]bool{}
		pos := head
		for finished := false; !finished; {
			select {
			case <-done:
				finished = true // one more read after the last commit
			default:
			}
			page, next, err := s.RevocationsAfter(t.Context(), pos, 3)
			if err != nil {
				t.Fatalf("RevocationsAfter: %v", err)
			}
			for _, r := range page {
				seen[r.Value] = true
			}
			pos = next
			if len(page) == 3 {
				finished = false // more to read
			}
		}
		if len(seen) != writers*each {
			t.Fatalf("the reader saw %d distinct entries, want %d", len(seen), writers*each)
		}
	})
}

// LifetimeStores bundles what the token-lifetimes suite needs: the longest
// lifetime includes clients' own, so it creates clients in the same backend.
type LifetimeStores struct {
	Clients   store.ClientStore
	Lifetimes store.TokenLifetimes
}

// TestTokenLifetimes runs the conformance suite for store.TokenLifetimes.
func TestTokenLifetimes(t *testing.T, newStores func(*testing.T) LifetimeStores) {
	t.Run("RecordedAndStale", func(t *testing.T) {
		s := newStores(t)
		t0 := suiteNow()
		longest := func(at time.Time) time.Duration {
			t.Helper()
			d, err := s.Lifetimes.LongestAccessTTL(t.Context(), at)
			suiteCheckErr(t, "LongestAccessTTL", err, nil)
			return d
		}
		if d := longest(t0); d != 0 {
			t.Fatalf("nothing recorded: %v, want 0", d)
		}
		suiteCheckErr(t, "RecordAccessTTL", s.Lifetimes.RecordAccessTTL(t.Context(), time.Hour, t0), nil)
		suiteCheckErr(t, "RecordAccessTTL", s.Lifetimes.RecordAccessTTL(t.Context(), 15*time.Minute, t0.Add(2*time.Hour)), nil)
		cases := []struct {
			at   time.Time
			want time.Duration
		}{
			{t0.Add(time.Minute), time.Hour},                      // both recent enough
			{t0.Add(2*time.Hour + time.Minute), 15 * time.Minute}, // the 1h server stopped long ago
			{t0.Add(2*time.Hour + 16*time.Minute), 0},             // no token can still be live
		}
		for _, c := range cases {
			if got := longest(c.at); got != c.want {
				t.Errorf("LongestAccessTTL(t0+%v) = %v, want %v", c.at.Sub(t0), got, c.want)
			}
		}
		// A re-record keeps the later time.
		suiteCheckErr(t, "RecordAccessTTL", s.Lifetimes.RecordAccessTTL(t.Context(), time.Hour, t0.Add(-time.Hour)), nil)
		if got := longest(t0.Add(30 * time.Minute)); got != time.Hour {
			t.Errorf("after an older re-record: %v, want 1h", got)
		}
		if err := s.Lifetimes.RecordAccessTTL(t.Context(), 0, t0); err == nil {
			t.Error("RecordAccessTTL(0) succeeded, want an error")
		}
	})

	t.Run("ClientLifetimes", func(t *testing.T) {
		s := newStores(t)
		c := suiteClient(t, "long-lived")
		c.AccessTokenTTL = 3 * time.Hour
		suiteCreateClient(t, s.Clients, c)
		suiteCheckErr(t, "RecordAccessTTL", s.Lifetimes.RecordAccessTTL(t.Context(), time.Hour, suiteNow()), nil)
		d, err := s.Lifetimes.LongestAccessTTL(t.Context(), suiteNow())
		suiteCheckErr(t, "LongestAccessTTL", err, nil)
		if d != 3*time.Hour {
			t.Errorf("LongestAccessTTL = %v, want the client's 3h", d)
		}
	})
}
