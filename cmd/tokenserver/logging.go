package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"
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
		opts.ReplaceAttr = durationSeconds
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	opts.ReplaceAttr = durationString
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationSeconds renders a time.Duration as seconds (a float) in JSON: the
// JSON handler's default is integer nanoseconds, which no log query reads
// right, and seconds are the unit of every metric.
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(a.Value.Duration().Seconds())
	}
	return a
}

// durationString renders a time.Duration as its String ("1.5s") in text
// output, whatever the text handler's default becomes.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// routeRedisLogs sends go-redis's own log lines (pool dial failures, a
// pub/sub reconnect) through logger, so that --log-format json is JSON on
// every line; by default go-redis prints plain text to stderr. go-redis
// keeps one logger per process (redis.SetLogger), so this is called by the
// command wiring, once per command, never by a library.
func routeRedisLogs(logger *slog.Logger) {
	goredis.SetLogger(redisLogger{logger: logger.With("component", "go-redis")})
}

// redisLogger adapts *slog.Logger to go-redis's Printf-only logging
// interface. go-redis gives no level; what it prints is a failure it
// recovers from (a dial, a reconnect), so it is a warning.
type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	if !l.logger.Enabled(ctx, slog.LevelWarn) {
		return
	}
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	l.logger.Log(ctx, slog.LevelWarn, msg)
}
