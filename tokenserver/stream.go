package tokenserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/feedwire"
)

// streamWriteTimeout bounds each event write, so a client that stops
// reading (a full TCP window) is dropped instead of holding a stream slot
// and a goroutine forever.
const streamWriteTimeout = 10 * time.Second

// retryAfterStreams is the Retry-After of a refused stream.
const retryAfterStreams = 5 * time.Second

// handleRevocationStream serves the revocation feed as server-sent events
// (GET /revocations/stream), in the format verifier.SSE parses:
//
//	event: snapshot   data: {"revocations":[...]}   on every feed Resync
//	                                                (the first comes at once)
//	event: revoke     data: <store.Revocation JSON> per revocation
//	event: ping       data: {"time":"<RFC 3339>"}   every PingInterval
//
// Each event is flushed as soon as it is written. The stream ends when the
// client goes away, the feed closes, or Close is called.
func (s *Server) handleRevocationStream(w http.ResponseWriter, r *http.Request) {
	sw := &sseWriter{w: w, rc: http.NewResponseController(w)}
	err := s.streamRevocations(r, sw)
	switch {
	case err == nil:
	case !sw.started:
		// Nothing sent yet: an ordinary error response.
		s.writeError(w, r, err)
	case r.Context().Err() != nil:
		s.logger.DebugContext(r.Context(), "tokenserver: revocation stream client left")
	default:
		// The client reconnects and starts over with a snapshot.
		s.logger.WarnContext(r.Context(), "tokenserver: revocation stream ended", "error", err)
	}
}

// streamRevocations runs one stream until it ends. It returns nil when the
// stream ended normally (client gone, Close).
func (s *Server) streamRevocations(r *http.Request, sw *sseWriter) error {
	ctx := r.Context()
	if _, err := s.authenticateBasicClient(ctx, r); err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		// The mux routes HEAD to GET handlers; answer with the headers only
		// rather than hold a stream slot for a body nobody reads.
		sw.start()
		return nil
	}
	release, err := s.acquireStream()
	if err != nil {
		return err
	}
	defer release()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(s.closing, cancel)
	defer stopOnClose()

	events, err := s.cfg.Feed.Subscribe(ctx)
	if err != nil {
		return storeErr("revocation stream: subscribe", err)
	}
	defer drain(events)
	defer sw.done()

	// stopped is the result of a stream ended by the client or by Close.
	stopped := func() error {
		if !sw.started && s.closing.Err() != nil {
			return errShuttingDown()
		}
		return nil
	}
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return stopped()
		case ev, ok := <-events:
			switch {
			case !ok && ctx.Err() != nil:
				return stopped()
			case !ok:
				// Before the first event this is a 503: retry later.
				return fmt.Errorf("tokenserver: revocation stream: feed closed: %w", store.ErrUnavailable)
			case ev.Resync:
				// Events may have been missed: send the full set again.
				err = s.sendSnapshot(ctx, sw)
			case ev.Revocation != nil:
				err = sw.event(feedwire.EventRevoke, feedwire.From(*ev.Revocation))
			}
		case <-ping.C:
			// A heartbeat vouches that nothing was missed. A feed that
			// cannot (its upstream and the durable log both unreachable)
			// sends none, so subscribers count staleness from the last
			// one and fail closed rather than trust a dead feed.
			if s.feedHealthy() {
				err = sw.event(feedwire.EventPing, feedwire.Ping{Time: s.now().UTC().Format(time.RFC3339)})
			}
		}
		if err != nil {
			return err
		}
	}
}

// feedHealthy reports whether the feed delivers every revocation; a feed
// that cannot tell (store.FeedHealth not implemented) is taken at its word.
func (s *Server) feedHealthy() bool {
	h, ok := s.cfg.Feed.(store.FeedHealth)
	return !ok || h.Healthy()
}

func (s *Server) sendSnapshot(ctx context.Context, sw *sseWriter) error {
	body, err := s.activeRevocationsJSON(ctx, s.now())
	if err != nil {
		return err
	}
	return sw.write(feedwire.EventSnapshot, body)
}

// acquireStream takes one of the MaxStreams slots, or answers 503 with
// Retry-After when all are taken or the server is closing.
func (s *Server) acquireStream() (release func(), err error) {
	if s.closing.Err() != nil {
		return nil, errShuttingDown()
	}
	select {
	case s.streams <- struct{}{}:
		return func() { <-s.streams }, nil
	default:
		return nil, &Error{Code: CodeTemporarilyUnavailable, Description: "too many revocation streams; retry later",
			retryAfter: retryAfterStreams}
	}
}

func errShuttingDown() *Error {
	return &Error{Code: CodeTemporarilyUnavailable, Description: "the server is shutting down; retry later",
		retryAfter: retryAfterStreams}
}

// drain empties a feed channel after its context is cancelled, so the
// feed's forwarding goroutine is never left blocked on a send.
func drain(events <-chan store.FeedEvent) {
	go func() {
		for range events {
		}
	}()
}

// Close ends every open revocation stream and refuses new ones, so that
// http.Server.Shutdown, which waits for active requests, does not wait for
// streams that never end on their own. Register it with
// http.Server.RegisterOnShutdown. Other endpoints keep working. Close is
// idempotent and safe for concurrent use.
func (s *Server) Close() {
	s.closeStreams()
}

// RevocationStreams returns how many revocation streams are open now (each
// holds a slot of Config.MaxStreams while it runs), for monitoring.
func (s *Server) RevocationStreams() int { return len(s.streams) }

// sseWriter writes server-sent events (HTML Living Standard §9.2) and
// flushes each one.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// started: the 200 and headers have been sent.
	started bool
	buf     []byte
}

// event writes one event whose data is v as JSON.
func (sw *sseWriter) event(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return sw.write(name, data)
}

// write writes one event. data must be a single line, which JSON from
// encoding/json always is (it escapes control characters in strings).
func (sw *sseWriter) write(name string, data []byte) error {
	sw.start()
	// Deadlines are wall-clock, not the injected token clock. Recorders
	// without deadline support (tests) return ErrNotSupported.
	if err := sw.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	sw.buf = append(sw.buf[:0], "event: "...)
	sw.buf = append(sw.buf, name...)
	sw.buf = append(sw.buf, "\ndata: "...)
	sw.buf = append(sw.buf, data...)
	sw.buf = append(sw.buf, "\n\n"...)
	if _, err := sw.w.Write(sw.buf); err != nil {
		return err
	}
	return sw.rc.Flush()
}

// start sends the 200 and the stream's headers, once.
func (sw *sseWriter) start() {
	if sw.started {
		return
	}
	h := sw.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// Ask buffering reverse proxies (nginx) to pass events through.
	h.Set("X-Accel-Buffering", "no")
	sw.w.WriteHeader(http.StatusOK)
	sw.started = true
}

// done bounds the end of the response (the final chunk) by the same
// deadline as an event.
func (sw *sseWriter) done() {
	if sw.started {
		_ = sw.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	}
}
