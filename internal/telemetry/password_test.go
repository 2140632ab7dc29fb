package telemetry

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

func newObservedHasher(t *testing.T, tr *Tracing, queueTimeout time.Duration) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(password.Config{
		Params:        password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		AllowWeak:     true,
		MaxConcurrent: 1,
		QueueTimeout:  queueTimeout,
		Observer:      tr.HashObserver(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashObserverSpans(t *testing.T) {
	tr, exp := newTestTracing(t)
	h := newObservedHasher(t, tr, time.Hour)
	ctx, parent := tr.provider.Tracer("test").Start(t.Context(), "grant password")
	if err := h.VerifyDummy(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	parent.End()
	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want queue wait, hash, parent", len(spans))
	}
	for i, want := range []string{spanQueueWait, spanHash} {
		s := spans[i]
		if s.Name != want || s.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d = %q under %v, want %q under the grant span", i, s.Name, s.Parent.SpanID(), want)
		}
		if s.EndTime.Before(s.StartTime) || len(s.Attributes) != 0 || s.Status.Code != codes.Unset {
			t.Errorf("span %q: start %v end %v attributes %v status %v", s.Name, s.StartTime, s.EndTime, s.Attributes, s.Status)
		}
	}
	// The hash ran after the wait ended.
	if spans[1].StartTime.Before(spans[0].EndTime) {
		t.Errorf("hash starts %v before the wait ends %v", spans[1].StartTime, spans[0].EndTime)
	}
}

// The spans are made after the fact with the hasher's times.
func TestHashObserverSpanTimes(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		observe   func(ctx context.Context, o password.Observer)
		wantName  string
		wantEnd   time.Time
		wantCause string
	}{
		{"admitted", func(ctx context.Context, o password.Observer) { o.Admitted(ctx, start, 3*time.Millisecond) },
			spanQueueWait, start.Add(3 * time.Millisecond), ""},
		{"hashed", func(ctx context.Context, o password.Observer) { o.Hashed(ctx, start, 40*time.Millisecond) },
			spanHash, start.Add(40 * time.Millisecond), ""},
		{"shed", func(ctx context.Context, o password.Observer) {
			o.Shed(ctx, password.ShedQueueTimeout, start, 2*time.Second)
		}, spanQueueWait, start.Add(2 * time.Second), password.ShedQueueTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, exp := newTestTracing(t)
			ctx, parent := tr.provider.Tracer("test").Start(t.Context(), "grant password")
			tt.observe(ctx, tr.HashObserver())
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name != tt.wantName || s.Parent.SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("span %q under %v, want %q under the grant span", s.Name, s.Parent.SpanID(), tt.wantName)
			}
			if !s.StartTime.Equal(start) || !s.EndTime.Equal(tt.wantEnd) {
				t.Errorf("span from %v to %v, want %v to %v", s.StartTime, s.EndTime, start, tt.wantEnd)
			}
			if tt.wantCause == "" {
				if len(s.Attributes) != 0 || s.Status.Code != codes.Unset {
					t.Errorf("attributes %v status %v, want none", s.Attributes, s.Status)
				}
				return
			}
			if s.Status.Code != codes.Error || len(s.Attributes) != 1 || s.Attributes[0].Key != "password.shed_cause" ||
				s.Attributes[0].Value.AsString() != tt.wantCause {
				t.Errorf("attributes %v status %v, want password.shed_cause=%s and an error", s.Attributes, s.Status, tt.wantCause)
			}
		})
	}
}

// Without a span in the context (start-up, CLI hashing) nothing is made.
func TestHashObserverNeedsATrace(t *testing.T) {
	tr, exp := newTestTracing(t)
	h := newObservedHasher(t, tr, time.Hour)
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("got %d spans, want none", n)
	}
}
