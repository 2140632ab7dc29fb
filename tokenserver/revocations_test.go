package tokenserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/feedwire"
	"github.com/tokenserver/tokenserver/verifier"
)

var revocationPaths = []string{"/revocations", "/revocations/stream"}

// Both GET endpoints accept only a confidential client over HTTP Basic;
// a failure is the token endpoint's invalid_client, always with the
// Basic challenge since a GET has no other way to authenticate.
func TestRevocationEndpointsAuth(t *testing.T) {
	tests := []struct {
		name       string
		target     string // path suffix (query)
		opts       []reqOption
		wantStatus int
		wantCode   string
	}{
		{name: "no credentials", wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient},
		{name: "credentials in the query are ignored", target: "?client_id=web&client_secret=" + url.QueryEscape(webSecret),
			wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient},
		{name: "wrong secret", opts: []reqOption{withBasic(webID, "wrong")}, wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient},
		{name: "unknown client", opts: []reqOption{withBasic("nobody", "x")}, wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient},
		{name: "public client", opts: []reqOption{withBasic(cliID, "")}, wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient},
		{name: "Bearer scheme", opts: []reqOption{withHeader("Authorization", "Bearer x")}, wantStatus: http.StatusUnauthorized, wantCode: CodeInvalidClient},
		{name: "malformed Basic", opts: []reqOption{withHeader("Authorization", "Basic !!!")}, wantStatus: http.StatusBadRequest, wantCode: CodeInvalidRequest},
	}
	for _, path := range revocationPaths {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t)
				rec := h.do(http.MethodGet, path+tt.target, "", tt.opts...)
				assertOAuthError(t, rec, tt.wantStatus, tt.wantCode)
			})
		}
	}
}

func TestRevocationEndpointsUnavailable(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		inject   func(h *harness, c *Config)
		wantCode string
		status   int
	}{
		{name: "snapshot: denylist unavailable", path: "/revocations", status: http.StatusServiceUnavailable, wantCode: CodeTemporarilyUnavailable,
			inject: failActive(store.ErrUnavailable)},
		{name: "snapshot: denylist failure", path: "/revocations", status: http.StatusInternalServerError, wantCode: CodeServerError,
			inject: failActive(errors.New("boom"))},
		{name: "stream: first snapshot unavailable", path: "/revocations/stream", status: http.StatusServiceUnavailable,
			wantCode: CodeTemporarilyUnavailable, inject: failActive(store.ErrUnavailable)},
		{name: "stream: subscribe unavailable", path: "/revocations/stream", status: http.StatusServiceUnavailable,
			wantCode: CodeTemporarilyUnavailable, inject: func(h *harness, c *Config) {
				c.Feed = stubFeed{RevocationFeed: h.mem, subscribe: func(context.Context) (<-chan store.FeedEvent, error) {
					return nil, store.ErrUnavailable
				}}
			}},
		{name: "stream: feed closes before the first event", path: "/revocations/stream", status: http.StatusServiceUnavailable,
			wantCode: CodeTemporarilyUnavailable, inject: func(h *harness, c *Config) {
				c.Feed = stubFeed{RevocationFeed: h.mem, subscribe: func(context.Context) (<-chan store.FeedEvent, error) {
					ch := make(chan store.FeedEvent)
					close(ch)
					return ch, nil
				}}
			}},
		{name: "client store unavailable", path: "/revocations", status: http.StatusServiceUnavailable,
			wantCode: CodeTemporarilyUnavailable, inject: func(h *harness, c *Config) {
				c.Clients = stubClients{ClientStore: h.mem, clientByID: func(context.Context, string) (store.Client, error) {
					return store.Client{}, store.ErrUnavailable
				}}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.inject)
			assertOAuthError(t, h.do(http.MethodGet, tt.path, "", withBasic(webID, webSecret)), tt.status, tt.wantCode)
		})
	}
}

func failActive(err error) func(h *harness, c *Config) {
	return func(h *harness, c *Config) {
		c.Revocations = stubRevocations{RevocationStore: h.mem, active: func(context.Context, time.Time) ([]store.Revocation, error) {
			return nil, err
		}}
	}
}

func TestRevocationsSnapshot(t *testing.T) {
	tests := []struct {
		name string
		// prepare revokes what the snapshot should list.
		prepare func(h *harness)
	}{
		{name: "empty", prepare: func(*harness) {}},
		{name: "one of each kind", prepare: func(h *harness) {
			tok := h.login("")
			h.revokeAs(webID, webSecret, tok.AccessToken)
			h.revokeAs(webID, webSecret, h.login("").RefreshToken)
			h.revokeEntry(store.RevokeSub, aliceID, h.clock.Now())
		}},
		{name: "expired entries are left out", prepare: func(h *harness) {
			h.revokeAs(webID, webSecret, h.login("").AccessToken)
			h.clock.Advance(defaultAccessTokenTTL)
			h.revokeEntry(store.RevokeSub, aliceID, h.clock.Now())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.prepare(h)
			rec := h.do(http.MethodGet, "/revocations", "", withBasic(mobileID, mobileSecret))
			assertIntrospectionResponse(t, rec) // 200, JSON, no-store
			want, err := json.Marshal(feedwire.SnapshotOf(h.activeRevocations()))
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != string(want) {
				t.Errorf("body %s\nwant %s", got, want)
			}
			if !strings.HasPrefix(rec.Body.String(), `{"revocations":[`) {
				t.Errorf("body %s is not {\"revocations\":[...]}", rec.Body)
			}
		})
	}
}

func TestRevocationStream(t *testing.T) {
	h := newHarness(t, func(_ *harness, c *Config) { c.PingInterval = 20 * time.Millisecond })
	old := h.login("")
	h.revokeAs(webID, webSecret, old.AccessToken)
	ts := h.startServer()

	resp, events := openStream(t, ts, mobileID, mobileSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for name, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// The snapshot comes first, before any ping.
	first := <-events
	if first.name != "snapshot" {
		t.Fatalf("first event %q, want snapshot", first.name)
	}
	snap := decodeSnapshot(t, first)
	if want := h.activeRevocations(); len(snap) != 1 || !sameRevocation(snap[0], want[0]) {
		t.Errorf("snapshot %+v, want %+v", snap, want)
	}

	// A revocation reaches the stream promptly.
	tok := h.login("")
	h.revokeAs(webID, webSecret, tok.RefreshToken)
	ev := nextEvent(t, events, "revoke", time.Second)
	var wire feedwire.Revocation
	if err := json.Unmarshal([]byte(ev.data), &wire); err != nil {
		t.Fatal(err)
	}
	got := wire.Store()
	want := store.Revocation{Kind: store.RevokeSID, Value: h.claims(tok.AccessToken)["sid"].(string),
		ExpiresAt: h.clock.Now().Add(defaultAccessTokenTTL), CreatedAt: h.clock.Now()}
	if !sameRevocation(got, want) {
		t.Errorf("revoke event %+v, want %+v", got, want)
	}

	ping := nextEvent(t, events, "ping", 5*time.Second)
	if want := `{"time":"` + h.clock.Now().UTC().Format(time.RFC3339) + `"}`; ping.data != want {
		t.Errorf("ping data %s, want %s", ping.data, want)
	}
}

// A Resync from the feed (a reconnect upstream, or a slow subscriber's
// overflow) makes the stream send a fresh snapshot.
func TestRevocationStreamResyncSendsSnapshot(t *testing.T) {
	inject := make(chan store.FeedEvent)
	h := newHarness(t, func(h *harness, c *Config) {
		c.Feed = stubFeed{RevocationFeed: h.mem, subscribe: func(ctx context.Context) (<-chan store.FeedEvent, error) {
			return mergeFeed(ctx, h.mem, inject)
		}}
	})
	ts := h.startServer()
	_, events := openStream(t, ts, webID, webSecret)
	if snap := decodeSnapshot(t, nextEvent(t, events, "snapshot", 5*time.Second)); len(snap) != 0 {
		t.Fatalf("first snapshot %+v, want empty", snap)
	}
	// Written to the store without a publish: only a resync reveals it.
	h.revokeEntry(store.RevokeSub, aliceID, h.clock.Now())
	inject <- store.FeedEvent{Resync: true}
	snap := decodeSnapshot(t, nextEvent(t, events, "snapshot", 5*time.Second))
	if len(snap) != 1 || snap[0].Kind != store.RevokeSub || snap[0].Value != aliceID {
		t.Errorf("snapshot after resync %+v, want the sub entry", snap)
	}
}

// mergeFeed subscribes to feed and adds the events sent on inject.
func mergeFeed(ctx context.Context, feed store.RevocationFeed, inject <-chan store.FeedEvent) (<-chan store.FeedEvent, error) {
	in, err := feed.Subscribe(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan store.FeedEvent)
	go func() {
		defer close(out)
		for {
			var ev store.FeedEvent
			var ok bool
			select {
			case ev, ok = <-in:
				if !ok {
					return
				}
			case ev = <-inject:
			case <-ctx.Done():
				return
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func TestRevocationStreamEndsWhenFeedCloses(t *testing.T) {
	h := newHarness(t, func(h *harness, c *Config) {
		c.Feed = stubFeed{RevocationFeed: h.mem, subscribe: func(ctx context.Context) (<-chan store.FeedEvent, error) {
			ch := make(chan store.FeedEvent, 1)
			ch <- store.FeedEvent{Resync: true}
			close(ch)
			return ch, nil
		}}
	})
	ts := h.startServer()
	_, events := openStream(t, ts, webID, webSecret)
	nextEvent(t, events, "snapshot", 5*time.Second)
	assertStreamEnds(t, events)
	if !strings.Contains(h.logs.String(), "feed closed") {
		t.Errorf("end of the feed not logged:\n%s", h.logs)
	}
}

func assertStreamEnds(t *testing.T, events <-chan sseEvent) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("stream still open")
		}
	}
}

func TestCloseEndsStreams(t *testing.T) {
	h := newHarness(t)
	ts := h.startServer()
	_, a := openStream(t, ts, webID, webSecret)
	_, b := openStream(t, ts, mobileID, mobileSecret)
	nextEvent(t, a, "snapshot", 5*time.Second)
	nextEvent(t, b, "snapshot", 5*time.Second)

	h.srv.Close()
	h.srv.Close() // idempotent
	assertStreamEnds(t, a)
	assertStreamEnds(t, b)

	// New streams are refused; the other endpoints still answer.
	assertOAuthError(t, h.do(http.MethodGet, "/revocations/stream", "", withBasic(webID, webSecret)),
		http.StatusServiceUnavailable, CodeTemporarilyUnavailable)
	if rec := h.do(http.MethodGet, "/revocations", "", withBasic(webID, webSecret)); rec.Code != http.StatusOK {
		t.Errorf("GET /revocations after Close: %d", rec.Code)
	}
}

// HEAD gets the stream's headers and returns at once, holding no slot.
func TestRevocationStreamHead(t *testing.T) {
	h := newHarness(t, func(_ *harness, c *Config) { c.MaxStreams = 1 })
	for range 2 {
		rec := h.do(http.MethodHead, "/revocations/stream", "", withBasic(webID, webSecret))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/event-stream" || rec.Body.Len() != 0 {
			t.Fatalf("HEAD: status %d, Content-Type %q, body %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	assertOAuthError(t, h.do(http.MethodHead, "/revocations/stream", ""), http.StatusUnauthorized, CodeInvalidClient)
}

// With Close registered, http.Server.Shutdown does not wait for streams.
func TestShutdownWithOpenStream(t *testing.T) {
	h := newHarness(t)
	ts := httptest.NewUnstartedServer(h.srv.Handler())
	ts.Config.RegisterOnShutdown(h.srv.Close)
	ts.Start()
	t.Cleanup(ts.Close)
	_, events := openStream(t, ts, webID, webSecret)
	nextEvent(t, events, "snapshot", 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	assertStreamEnds(t, events)
}

func TestRevocationStreamLimit(t *testing.T) {
	h := newHarness(t, func(_ *harness, c *Config) { c.MaxStreams = 1 })
	ts := h.startServer()
	first, events := openStream(t, ts, webID, webSecret)
	nextEvent(t, events, "snapshot", 5*time.Second)

	assertOAuthError(t, h.do(http.MethodGet, "/revocations/stream", "", withBasic(mobileID, mobileSecret)),
		http.StatusServiceUnavailable, CodeTemporarilyUnavailable)
	// An unauthenticated caller is refused as such, not counted.
	assertOAuthError(t, h.do(http.MethodGet, "/revocations/stream", ""), http.StatusUnauthorized, CodeInvalidClient)

	// The slot comes back when the first client leaves.
	first.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, events := openStream(t, ts, mobileID, mobileSecret)
		if resp.StatusCode == http.StatusOK {
			nextEvent(t, events, "snapshot", 5*time.Second)
			return
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("stream slot not released: status %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The stream speaks exactly what the resource-server side parses.
func TestRevocationStreamWithVerifierSSE(t *testing.T) {
	h := newHarness(t, func(_ *harness, c *Config) { c.PingInterval = 20 * time.Millisecond })
	h.revokeEntry(store.RevokeSub, bobID, h.clock.Now())
	ts := h.startServer()

	sink := &recordingSink{changed: make(chan struct{}, 1)}
	src := verifier.SSESource(ts.URL, oddID, oddSecret, ts.Client())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Stream(ctx, sink) }()
	t.Cleanup(func() { cancel(); <-done })

	sink.waitFor(t, "snapshot with bob", func() bool {
		return len(sink.snapshots) == 1 && len(sink.snapshots[0]) == 1 && sink.snapshots[0][0].Value == bobID
	})
	tok := h.login("")
	h.revokeAs(webID, webSecret, tok.AccessToken)
	jti := h.claims(tok.AccessToken)["jti"].(string)
	sink.waitFor(t, "revoked jti and a heartbeat", func() bool {
		return len(sink.revoked) == 1 && sink.revoked[0].Value == jti && sink.heartbeats > 0
	})
}

// recordingSink records what a verifier Source reports.
type recordingSink struct {
	mu         sync.Mutex
	snapshots  [][]store.Revocation
	revoked    []store.Revocation
	heartbeats int
	changed    chan struct{}
}

func (s *recordingSink) Snapshot(rs []store.Revocation) {
	s.mu.Lock()
	s.snapshots = append(s.snapshots, rs)
	s.mu.Unlock()
	s.poke()
}

func (s *recordingSink) Revoke(r store.Revocation) {
	s.mu.Lock()
	s.revoked = append(s.revoked, r)
	s.mu.Unlock()
	s.poke()
}

func (s *recordingSink) Heartbeat() {
	s.mu.Lock()
	s.heartbeats++
	s.mu.Unlock()
	s.poke()
}

func (s *recordingSink) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *recordingSink) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.changed:
		case <-timeout:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("no %s: snapshots %+v revoked %+v heartbeats %d", what, s.snapshots, s.revoked, s.heartbeats)
		}
	}
}
