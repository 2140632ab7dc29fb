package tokenserver

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/feedwire"
	"github.com/tokenserver/tokenserver/store/memory"
)

// revokeReq POSTs a form to /revoke.
func (h *harness) revokeReq(body string, opts ...reqOption) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.do(http.MethodPost, "/revoke", body, opts...)
}

// introspectReq POSTs a form to /introspect.
func (h *harness) introspectReq(body string, opts ...reqOption) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.do(http.MethodPost, "/introspect", body, opts...)
}

// revokeAs revokes token as a confidential client and requires 200.
func (h *harness) revokeAs(id, secret, token string, kv ...string) {
	h.t.Helper()
	assertRevokeOK(h.t, h.revokeReq(formBody(append([]string{"token", token}, kv...)...), withBasic(id, secret)))
}

// introspectAs introspects token as a confidential client, requires 200
// and returns the decoded answer.
func (h *harness) introspectAs(id, secret, token string, kv ...string) map[string]any {
	h.t.Helper()
	rec := h.introspectReq(formBody(append([]string{"token", token}, kv...)...), withBasic(id, secret))
	assertIntrospectionResponse(h.t, rec)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		h.t.Fatalf("decode introspection: %v: %s", err, rec.Body)
	}
	return m
}

// active introspects token as web and reports "active".
func (h *harness) active(token string) bool {
	h.t.Helper()
	return h.introspectAs(webID, webSecret, token)["active"] == true
}

// loginAs runs the password grant for alice with the given client
// (secret "" for the public client).
func (h *harness) loginAs(id, secret string) tokenJSON {
	h.t.Helper()
	body := loginBody(aliceName, alicePassword)
	if secret == "" {
		return h.mustToken(h.token(body + "&client_id=" + url.QueryEscape(id)))
	}
	return h.mustToken(h.token(body, withBasic(id, secret)))
}

// signed returns an access token with a real token's claims edited by
// edit, signed by the server's current key.
func (h *harness) signed(base string, edit func(map[string]any)) string {
	h.t.Helper()
	return signClaims(h.t, h.keys, h.claims(base), edit)
}

func signClaims(t testing.TB, k Keys, claims map[string]any, edit func(map[string]any)) string {
	t.Helper()
	edit(claims)
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// foreignKeys is a real key manager the server does not know.
func (h *harness) foreignKeys() Keys {
	h.t.Helper()
	return newTestKeys(h.t, h.clock, memory.New(h.clock.Now))
}

// activeRevocations reads the denylist straight from the store.
func (h *harness) activeRevocations() []store.Revocation {
	h.t.Helper()
	rs, err := h.mem.Active(context.Background(), h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return rs
}

// countPublishes is a harness option counting Publish calls on the real
// feed.
func countPublishes(n *atomic.Int64) func(*harness, *Config) {
	return func(h *harness, c *Config) {
		c.Feed = stubFeed{RevocationFeed: h.mem, publish: func(ctx context.Context, r store.Revocation) error {
			n.Add(1)
			return h.mem.Publish(ctx, r)
		}}
	}
}

// subscribeFeed subscribes to the memory feed, consumes the initial
// Resync and returns the channel.
func (h *harness) subscribeFeed() <-chan store.FeedEvent {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	ch, err := h.mem.Subscribe(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if ev := <-ch; !ev.Resync {
		h.t.Fatalf("first feed event %+v, want Resync", ev)
	}
	return ch
}

// nextPublished waits for the next published revocation.
func nextPublished(t testing.TB, ch <-chan store.FeedEvent) store.Revocation {
	t.Helper()
	select {
	case ev := <-ch:
		if ev.Revocation == nil {
			t.Fatalf("feed event %+v, want a revocation", ev)
		}
		return *ev.Revocation
	case <-time.After(5 * time.Second):
		t.Fatal("nothing published")
	}
	return store.Revocation{}
}

// assertRevokeOK checks RFC 7009 §2.2 success: 200, no body, no-store.
func assertRevokeOK(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	if rec.Body.Len() != 0 {
		t.Errorf("body %q, want empty", rec.Body)
	}
	assertHeader(t, rec, "Cache-Control", "no-store")
}

// assertIntrospectionResponse checks the RFC 7662 §2.2 headers.
func assertIntrospectionResponse(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	assertHeader(t, rec, "Content-Type", "application/json")
	assertHeader(t, rec, "Cache-Control", "no-store")
}

// assertInactive checks that the answer is exactly {"active":false}
// (RFC 7662 §2.2: nothing else for an inactive token).
func assertInactive(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	assertIntrospectionResponse(t, rec)
	if got := rec.Body.String(); got != `{"active":false}` {
		t.Errorf("body %s, want {\"active\":false}", got)
	}
}

// ---------------------------------------------------------------- SSE client

type sseEvent struct {
	name string
	data string
}

// openStream connects to ts's revocation stream as a client and returns
// the response and its events (closed at the end of the stream).
func openStream(t testing.TB, ts *httptest.Server, id, secret string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/revocations/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	events := make(chan sseEvent, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				events <- ev
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return resp, events
}

// nextEvent waits for the next event other than ping (unless want is
// "ping") and checks its name.
func nextEvent(t testing.TB, events <-chan sseEvent, want string, timeout time.Duration) sseEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", want)
			}
			if ev.name == "ping" && want != "ping" {
				continue
			}
			if ev.name != want {
				t.Fatalf("event %q (%s), want %q", ev.name, ev.data, want)
			}
			return ev
		case <-deadline:
			t.Fatalf("no %q event within %v", want, timeout)
		}
	}
}

// decodeSnapshot decodes a snapshot event's data.
func decodeSnapshot(t testing.TB, ev sseEvent) []store.Revocation {
	t.Helper()
	var m feedwire.Snapshot
	if err := json.Unmarshal([]byte(ev.data), &m); err != nil || m.Revocations == nil {
		t.Fatalf("snapshot data %q: %v", ev.data, err)
	}
	return m.Store()
}

// startServer serves h over real HTTP, so streams are flushed as they
// would be in production. Streams are ended before the server closes.
func (h *harness) startServer() *httptest.Server {
	h.t.Helper()
	ts := httptest.NewServer(h.srv.Handler())
	h.t.Cleanup(ts.Close)
	h.t.Cleanup(h.srv.Close)
	return ts
}
