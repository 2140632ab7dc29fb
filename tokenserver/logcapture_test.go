package tokenserver

import (
	"context"
	"log/slog"
	"sync"
)

// captureHandler is a slog.Handler that keeps every record, so tests can
// assert levels and attributes instead of matching text.
type captureHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (c *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (c *captureHandler) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records = append(c.records, r.Clone())
	return nil
}

func (c *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *captureHandler) WithGroup(string) slog.Handler      { return c }

// take returns the records logged since the last call and forgets them.
func (c *captureHandler) take() []slog.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.records
	c.records = nil
	return r
}

// attr returns the value of the record's attribute key, and whether it has
// one.
func attr(r slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}

// withCapturedLogs is a newHarness option that sends the server's log to c.
func withCapturedLogs(c *captureHandler) func(*harness, *Config) {
	return func(_ *harness, cfg *Config) { cfg.Logger = slog.New(c) }
}
