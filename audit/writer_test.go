package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

var update = flag.Bool("update", false, "rewrite testdata/events.golden")

// fixedClock is the writer's clock in these tests.
func fixedClock() time.Time {
	return time.Date(2026, 5, 4, 3, 2, 1, 987654321, time.FixedZone("x", 3600))
}

// sequentialIDs makes ids predictable for the golden file.
func sequentialIDs() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("%032x", n) }
}

// allEvents is one event of every type with the fields it carries.
func allEvents() []Event {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	return []Event{
		{Type: LoginSucceeded, Time: at, ClientID: "app", Subject: "0b6e3f5a-6c1e-4d0e-9c47-0c6f1c2d3e4f", ClientIP: "192.0.2.7", FamilyID: "FAM1"},
		{Type: LoginFailed, ClientID: "app", ClientIP: "192.0.2.7", Reason: ReasonInvalidCredentials},
		{Type: LoginThrottled, ClientID: "app", ClientIP: "192.0.2.7", Limit: LimitIP},
		{Type: TokenRefreshed, ClientID: "app", Subject: "u1", FamilyID: "FAM1"},
		{Type: RefreshReuseDetected, ClientID: "app", Subject: "u1", FamilyID: "FAM1", ClientIP: "192.0.2.8"},
		{Type: TokenRevoked, ClientID: "app", Subject: "u1", FamilyID: "FAM1", Kind: KindRefresh},
		{Type: SessionRevoked, Subject: "u1", FamilyID: "FAM1", Cause: CauseReuse},
		{Type: ClientAuthFailed, ClientID: "app", ClientIP: "192.0.2.9", Reason: ReasonBadSecret},
		{Type: ClientCredentialsIssued, ClientID: "svc"},
		{Type: AdminType(ActionUserDelete), Actor: "admin-client", Action: ActionUserDelete, Target: "u1"},
		{Type: KeyRotated, KID: "kid-2"},
		{Type: KeyRotated, KID: "kid-3", Emergency: true},
	}
}

func TestWriterGolden(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, fixedClock)
	w.newID = sequentialIDs()
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	}))
	for i, e := range allEvents() {
		if i == 0 {
			w.Emit(ctx, e) // with a span: trace_id is set
			continue
		}
		w.Emit(context.Background(), e)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "events.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("output differs from %s (go test ./audit -run TestWriterGolden -update to accept)\ngot:\n%s\nwant:\n%s", golden, buf.Bytes(), want)
	}
}

// TestWriterLineShape checks what the golden file cannot: real ids are
// 16 random bytes in hex and differ, and every line is one JSON object.
func TestWriterLineShape(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, fixedClock)
	w.Emit(context.Background(), Event{Type: LoginFailed, Reason: ReasonInvalidCredentials})
	w.Emit(context.Background(), Event{Type: LoginFailed, Reason: ReasonInvalidCredentials})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	ids := map[string]bool{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		id, _ := m["id"].(string)
		if !hex32.MatchString(id) {
			t.Errorf("id = %q, want 32 hex digits", id)
		}
		ids[id] = true
		if m["time"] != "2026-05-04T02:02:01.987Z" {
			t.Errorf("time = %v, want the clock in UTC with milliseconds", m["time"])
		}
		if m["schema"] != float64(SchemaVersion) {
			t.Errorf("schema = %v", m["schema"])
		}
		if _, ok := m["trace_id"]; ok {
			t.Errorf("trace_id present without a span: %q", l)
		}
	}
	if len(ids) != 2 {
		t.Errorf("ids not unique: %v", ids)
	}
}

// blockingWriter blocks every Write until release is closed, and says when
// the first Write has started.
type blockingWriter struct {
	started chan struct{}
	once    sync.Once
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func newBlockingWriter() *blockingWriter {
	return &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *blockingWriter) lines() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), "\n")
}

// TestWriterQueueFullDrops: with the destination stuck, Emit still returns
// at once; what does not fit in the queue is dropped and counted, and what
// was queued is written once the destination moves again.
func TestWriterQueueFullDrops(t *testing.T) {
	const size = 3
	out := newBlockingWriter()
	w := NewWriterWith(out, fixedClock, WriterOptions{QueueSize: size})
	e := Event{Type: TokenRefreshed, ClientID: "app"}
	w.Emit(context.Background(), e)
	<-out.started // the goroutine holds the first line; the queue is empty
	emitted := make(chan struct{})
	go func() {
		defer close(emitted)
		for range size + 2 {
			w.Emit(context.Background(), e)
		}
	}()
	select {
	case <-emitted:
	case <-time.After(30 * time.Second): // a hang detector, not a timing assertion
		t.Fatal("Emit blocked on a stuck destination")
	}
	if got := w.Stats().Dropped; got != 2 {
		t.Errorf("Dropped = %d, want 2", got)
	}
	close(out.release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.lines(); got != 1+size {
		t.Errorf("lines written = %d, want %d", got, 1+size)
	}
	if s := w.Stats(); s.Written != 1+size || s.WriteErrors != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

// TestWriterCloseFlushes: Close returns only after every queued event is
// written; later events are dropped, and Close may be called again.
func TestWriterCloseFlushes(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, fixedClock)
	for range 100 {
		w.Emit(context.Background(), Event{Type: ClientCredentialsIssued, ClientID: "svc"})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "\n"); got != 100 {
		t.Fatalf("lines after Close = %d, want 100", got)
	}
	w.Emit(context.Background(), Event{Type: ClientCredentialsIssued, ClientID: "svc"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "\n"); got != 100 {
		t.Errorf("an event emitted after Close was written")
	}
	if got := w.Stats().Dropped; got != 1 {
		t.Errorf("Dropped = %d, want 1 (the event after Close)", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestWriterCountsWriteErrors: a failing destination costs the caller
// nothing; the failures are counted.
func TestWriterCountsWriteErrors(t *testing.T) {
	w := NewWriter(failingWriter{}, fixedClock)
	for range 3 {
		w.Emit(context.Background(), Event{Type: LoginFailed, Reason: ReasonInvalidCredentials})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.WriteErrors != 3 || s.Written != 0 {
		t.Errorf("Stats = %+v, want 3 write errors", s)
	}
}

type recorder struct{ got []Type }

func (r *recorder) Emit(_ context.Context, e Event) { r.got = append(r.got, e.Type) }

func TestSinksFanOut(t *testing.T) {
	a, b := &recorder{}, &recorder{}
	Sinks{a, nil, b}.Emit(context.Background(), Event{Type: KeyRotated})
	if len(a.got) != 1 || len(b.got) != 1 {
		t.Errorf("a=%v b=%v, want one event each", a.got, b.got)
	}
	OrDiscard(nil).Emit(context.Background(), Event{Type: KeyRotated}) // must not panic
}

func TestAdminType(t *testing.T) {
	if got := AdminType(ActionUserDelete); got != "admin.user.delete" || !got.IsAdmin() {
		t.Errorf("AdminType = %q", got)
	}
	if LoginFailed.IsAdmin() || Type("admin.").IsAdmin() {
		t.Error("IsAdmin true for a non-admin type")
	}
}
