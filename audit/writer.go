package audit

import (
	"context"
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
// to an io.Writer. Emit stamps the event (time, trace id) on the caller's
// goroutine and hands it to one writer goroutine through a bounded queue;
// the goroutine encodes and writes, so neither the encoding nor a slow or
// stuck destination is on a request's path. What does not fit is dropped
// and counted (Dropped). Close flushes.
type Writer struct {
	out io.Writer
	now func() time.Time
	// newID, when set, gives the event ids (tests set it for the golden
	// file); nil means 16 random bytes in hex from ids.
	newID  func() string
	logger *slog.Logger

	// mu guards closed against Emit's send: Emit sends under the read
	// lock, Close closes the queue under the write lock.
	mu     sync.RWMutex
	closed bool
	queue  chan *pending
	done   chan struct{}
	// pool recycles pending events: the writer goroutine returns each one
	// once it is encoded, so a steady stream allocates none.
	pool sync.Pool

	dropped     atomic.Uint64
	writeErrors atomic.Uint64
	written     atomic.Uint64
}

// pending is an event waiting in the queue with what only the caller's
// goroutine knows: its time and trace id.
type pending struct {
	e        Event
	traceID  trace.TraceID
	hasTrace bool
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
	w := &Writer{out: out, now: now, logger: logger, queue: make(chan *pending, size), done: make(chan struct{})}
	w.pool.New = func() any { return new(pending) }
	go w.run()
	return w
}

// Emit implements Sink. It never blocks on the destination.
func (w *Writer) Emit(ctx context.Context, e Event) {
	p := w.pool.Get().(*pending)
	p.e = e
	if p.e.Time.IsZero() {
		p.e.Time = w.now()
	}
	sc := trace.SpanContextFromContext(ctx)
	p.traceID, p.hasTrace = sc.TraceID(), sc.HasTraceID()
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.release(p)
		w.drop(ctx)
		return
	}
	select {
	case w.queue <- p:
	default:
		w.release(p)
		w.drop(ctx)
	}
}

// release returns p to the pool without references to the event's strings.
func (w *Writer) release(p *pending) {
	*p = pending{}
	w.pool.Put(p)
}

func (w *Writer) drop(ctx context.Context) {
	if w.dropped.Add(1) == 1 {
		w.logger.WarnContext(ctx, "audit: event queue full or closed; dropping events (counted)")
	}
}

// run encodes and writes queued events in order until Close. The line
// buffer is reused: io.Writer must not retain p.
func (w *Writer) run() {
	defer close(w.done)
	var (
		buf []byte
		ids idSource
	)
	for p := range w.queue {
		buf = buf[:0]
		if w.newID != nil {
			buf = appendLine(buf, &p.e, []byte(w.newID()), p.traceID, p.hasTrace)
		} else {
			id := ids.next()
			buf = appendLine(buf, &p.e, id[:], p.traceID, p.hasTrace)
		}
		w.release(p)
		if _, err := w.out.Write(buf); err != nil {
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
