package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("unknown log level %q", s)
	}
	return l, nil
}

// newLogger returns the process logger. Nothing logs passwords, secrets,
// tokens or keys; handlers log causes of server errors only.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	l, _ := parseLogLevel(level) // validated with the config
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
