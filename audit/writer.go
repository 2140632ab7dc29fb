package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// timeFormat is RFC 3339 in UTC with milliseconds: sortable as text, and
// precise enough to order a login's events.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// DefaultQueueSize is how many encoded events may wait for the writer.
const DefaultQueueSize = 4096

// WriterOptions tunes a Writer; the zero value is the defaults.
type WriterOptions struct {
	// QueueSize bounds the events waiting to be written; when it is full,
	// events are dropped (and counted) rather than making requests wait.
	// Zero means DefaultQueueSize.
	QueueSize int
	// Logger reports the first write error and the first drop (each once,
	// so a full disk does not flood the log). Default: discard.
	Logger *slog.Logger
}

// Writer is a Sink writing one JSON object per line (schema SchemaVersion)
// to an io.Writer. Emit encodes on the caller's goroutine and hands the line
// to one writer goroutine through a bounded queue, so a slow or stuck
// destination never holds a request for longer than the encoding; what does
// not fit is dropped and counted (Dropped). Close flushes.
type Writer struct {
	out    io.Writer
	now    func() time.Time
	newID  func() string // tests replace it for the golden file
	logger *slog.Logger

	// mu guards closed against Emit's send: Emit sends under the read
	// lock, Close closes the queue under the write lock.
	mu     sync.RWMutex
	closed bool
	queue  chan []byte
	done   chan struct{}

	dropped     atomic.Uint64
	writeErrors atomic.Uint64
	written     atomic.Uint64
}

// NewWriter returns a Writer to out, stamping events without a Time with
// now. It starts the writer goroutine; call Close to flush and stop it.
func NewWriter(out io.Writer, now func() time.Time) *Writer {
	return NewWriterWith(out, now, WriterOptions{})
}

// NewWriterWith is NewWriter with options.
func NewWriterWith(out io.Writer, now func() time.Time, opts WriterOptions) *Writer {
	if now == nil {
		now = time.Now
	}
	size := opts.QueueSize
	if size <= 0 {
		size = DefaultQueueSize
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{out: out, now: now, newID: newID, logger: logger, queue: make(chan []byte, size), done: make(chan struct{})}
	go w.run()
	return w
}

// Emit implements Sink. It never blocks on the destination.
func (w *Writer) Emit(ctx context.Context, e Event) {
	line, err := w.encode(ctx, e)
	if err != nil {
		// Every field is a string, bool or time: encoding cannot fail.
		w.logger.ErrorContext(ctx, "audit: encoding an event", "type", string(e.Type), "error", err)
		return
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop(ctx)
		return
	}
	select {
	case w.queue <- line:
	default:
		w.drop(ctx)
	}
}

func (w *Writer) drop(ctx context.Context) {
	if w.dropped.Add(1) == 1 {
		w.logger.WarnContext(ctx, "audit: event queue full or closed; dropping events (counted)")
	}
}

// run writes queued lines in order until Close.
func (w *Writer) run() {
	defer close(w.done)
	for line := range w.queue {
		if _, err := w.out.Write(line); err != nil {
			if w.writeErrors.Add(1) == 1 {
				w.logger.Error("audit: writing the audit log failed; further write errors are only counted", "error", err)
			}
			continue
		}
		w.written.Add(1)
	}
}

// Close stops accepting events, writes every queued one, and returns when
// they are written. Events emitted after Close are dropped. It does not
// close the destination. Safe to call more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
	return nil
}

// Stats are a Writer's counters.
type Stats struct {
	Written     uint64 // lines written
	Dropped     uint64 // events dropped: queue full, or emitted after Close
	WriteErrors uint64 // lines the destination refused
}

// Stats returns the writer's counters.
func (w *Writer) Stats() Stats {
	return Stats{Written: w.written.Load(), Dropped: w.dropped.Load(), WriteErrors: w.writeErrors.Load()}
}

// line is the JSON form of schema version 1. Field order is the order
// written; unset fields are omitted.
type line struct {
	Schema    int    `json:"schema"`
	Time      string `json:"time"`
	ID        string `json:"id"`
	Type      Type   `json:"type"`
	TraceID   string `json:"trace_id,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Subject   string `json:"subject,omitempty"`
	ClientIP  string `json:"client_ip,omitempty"`
	FamilyID  string `json:"family_id,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Cause     Cause  `json:"cause,omitempty"`
	Limit     string `json:"limit,omitempty"`
	Actor     string `json:"actor,omitempty"`
	Action    string `json:"action,omitempty"`
	Target    string `json:"target,omitempty"`
	KID       string `json:"kid,omitempty"`
	Emergency *bool  `json:"emergency,omitempty"`
}

// encode renders e as one line: a fresh id, the time, the schema version
// and the trace id of the span in ctx (empty without one, so a reader can
// join the event to its trace).
func (w *Writer) encode(ctx context.Context, e Event) ([]byte, error) {
	t := e.Time
	if t.IsZero() {
		t = w.now()
	}
	l := line{
		Schema: SchemaVersion, Time: t.UTC().Format(timeFormat), ID: w.newID(), Type: e.Type,
		ClientID: e.ClientID, Subject: e.Subject, ClientIP: e.ClientIP, FamilyID: e.FamilyID,
		Reason: e.Reason, Kind: e.Kind, Cause: e.Cause, Limit: e.Limit,
		Actor: e.Actor, Action: e.Action, Target: e.Target, KID: e.KID,
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		l.TraceID = sc.TraceID().String()
	}
	if e.Type == KeyRotated {
		// Always present on key.rotated: false is information there.
		l.Emergency = &e.Emergency
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// newID returns 16 random bytes in hex: the event id.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}
