package verifier

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/store/feedwire"
)

// SSE defaults.
const (
	// DefaultSSEIdleTimeout: the token server pings every 5 s, so a stream
	// silent for three intervals is dead even if TCP has not noticed.
	DefaultSSEIdleTimeout = 15 * time.Second
	// DefaultSSEMaxEventSize bounds one event (the snapshot is the largest).
	DefaultSSEMaxEventSize = 64 << 20
)

// SSE is a Source reading the token server's revocation event stream,
// GET {issuer}/revocations/stream: first `event: snapshot` with data
// {"revocations":[...]}, then `event: revoke` with one store.Revocation per
// event and `event: ping` heartbeats.
type SSE struct {
	// URL is the stream endpoint.
	URL string
	// ClientID and ClientSecret authenticate the resource server to the
	// token server with HTTP Basic (RFC 6749 §2.3.1).
	ClientID, ClientSecret string
	// Client makes the request. Its overall Timeout is ignored (it would cut
	// the long-lived stream); liveness comes from IdleTimeout instead.
	Client *http.Client
	// IdleTimeout drops a connection that delivered nothing, not even a
	// ping, for this long. Zero means DefaultSSEIdleTimeout.
	IdleTimeout time.Duration
	// MaxEventSize bounds one event. Zero means DefaultSSEMaxEventSize.
	MaxEventSize int
}

// SSESource returns a Source for issuer's revocation stream. client nil
// means a client with connect, TLS and header timeouts.
func SSESource(issuer, clientID, clientSecret string, client *http.Client) *SSE {
	return &SSE{
		URL:          strings.TrimSuffix(issuer, "/") + "/revocations/stream",
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Client:       client,
	}
}

// Stream implements Source.
func (s *SSE) Stream(ctx context.Context, sink Sink) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = DefaultSSEIdleTimeout
	}
	errIdle := fmt.Errorf("verifier: sse: nothing received for %s", idle)
	watchdog := time.AfterFunc(idle, func() { cancel(errIdle) })
	defer watchdog.Stop()

	resp, err := s.connect(ctx)
	if err != nil {
		return streamErr(ctx, err)
	}
	defer resp.Body.Close()

	maxEvent := s.MaxEventSize
	if maxEvent <= 0 {
		maxEvent = DefaultSSEMaxEventSize
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEvent)
	var event string
	var data bytes.Buffer
	for sc.Scan() {
		watchdog.Reset(idle)
		line := sc.Bytes()
		if len(line) == 0 { // a blank line dispatches the event
			if data.Len() > 0 || event != "" {
				if err := dispatch(sink, event, data.Bytes()); err != nil {
					return err
				}
			}
			event = ""
			data.Reset()
			continue
		}
		if line[0] == ':' { // comment: a keep-alive
			sink.Heartbeat()
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			event = string(value)
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			if data.Len()+len(value) > maxEvent {
				return fmt.Errorf("verifier: sse: event larger than %d bytes", maxEvent)
			}
			data.Write(value)
		}
		// id and retry are irrelevant: every reconnect starts with a snapshot.
	}
	if err := sc.Err(); err != nil {
		return streamErr(ctx, fmt.Errorf("verifier: sse: read: %w", err))
	}
	return streamErr(ctx, errors.New("verifier: sse: stream ended"))
}

// streamErr prefers the reason the context was cancelled (idle watchdog or
// the caller) over the I/O error it caused.
func streamErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return err
}

func (s *SSE) connect(ctx context.Context) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("verifier: sse: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic.
	req.SetBasicAuth(url.QueryEscape(s.ClientID), url.QueryEscape(s.ClientSecret))
	client := http.Client{Transport: defaultTransport()}
	if s.Client != nil {
		client = *s.Client
		client.Timeout = 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("verifier: sse: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("verifier: sse: GET %s: status %d", s.URL, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		return nil, fmt.Errorf("verifier: sse: GET %s: content type %q is not text/event-stream", s.URL, mt)
	}
	return resp, nil
}

// dispatch hands one event to sink. A malformed snapshot or revoke ends the
// stream: the reconnect's snapshot repairs whatever was missed.
func dispatch(sink Sink, event string, data []byte) error {
	switch event {
	case feedwire.EventSnapshot:
		var m feedwire.Snapshot
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("verifier: sse: snapshot event: %w", err)
		}
		sink.Snapshot(m.Store())
	case feedwire.EventRevoke:
		var r feedwire.Revocation
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("verifier: sse: revoke event: %w", err)
		}
		sink.Revoke(r.Store())
	default: // ping and anything new: the connection is alive
		sink.Heartbeat()
	}
	return nil
}
