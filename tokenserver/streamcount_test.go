package tokenserver

import (
	"net/http"
	"testing"
	"time"
)

// RevocationStreams counts open streams (the feed subscribers gauge): one
// per stream while it runs, none after it ends; HEAD and refused streams
// hold none.
func TestRevocationStreamsCount(t *testing.T) {
	h := newHarness(t)
	ts := h.startServer()
	if n := h.srv.RevocationStreams(); n != 0 {
		t.Fatalf("RevocationStreams() = %d before any stream", n)
	}
	first, events := openStream(t, ts, webID, webSecret)
	nextEvent(t, events, "snapshot", 5*time.Second)
	second, events2 := openStream(t, ts, mobileID, mobileSecret)
	nextEvent(t, events2, "snapshot", 5*time.Second)
	h.do(http.MethodHead, "/revocations/stream", "", withBasic(webID, webSecret))
	assertOAuthError(t, h.do(http.MethodGet, "/revocations/stream", ""), http.StatusUnauthorized, CodeInvalidClient)
	if n := h.srv.RevocationStreams(); n != 2 {
		t.Fatalf("RevocationStreams() = %d with two open streams, want 2", n)
	}
	first.Body.Close()
	second.Body.Close()
	deadline := time.Now().Add(10 * time.Second) // hang detector only
	for h.srv.RevocationStreams() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("RevocationStreams() = %d 10s after both clients left", h.srv.RevocationStreams())
		}
		time.Sleep(time.Millisecond)
	}
}
