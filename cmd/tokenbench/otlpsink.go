package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// otlpSink is an OTLP/HTTP trace endpoint that reads and drops every
// export (--otlp-sink): the server's exporter does all its work (batching,
// protobuf, the HTTP round trip), and no collector's CPU is counted as the
// server's. It runs in tokenbench, so its CPU is the generator's.
type otlpSink struct {
	URL string
	srv *http.Server
}

func startOTLPSink() (*otlpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tokenbench: OTLP sink: %w", err)
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}),
	}
	// Serve ends only with Close; a failure shows as the server's export
	// errors in its log.
	go func() { _ = srv.Serve(ln) }()
	return &otlpSink{URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

func (s *otlpSink) Close() { _ = s.srv.Close() }
