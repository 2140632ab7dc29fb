package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// floorServerCommand is the hidden mode in which tokenbench re-executes
// itself as the HTTP floor: a plain net/http server that answers every GET
// with fixed bytes (the JWKS body and its headers). It runs as a separate
// process, like the token server, so both are measured the same way.
const floorServerCommand = "floor-server"

func runFloorServer(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(floorServerCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	bodyFile := fs.String("body", "", "file whose bytes every answer carries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		return fmt.Errorf("floor-server: %w", err)
	}
	length := strconv.Itoa(len(body))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=600")
		h.Set("ETag", `"floor"`)
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Content-Length", length)
		_, _ = w.Write(body)
	})
	// The token server's timeouts, so the two differ only in the handler.
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("floor-server: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("floor-server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("floor-server: %w", err)
	}
	return nil
}

// startFloorServer re-executes this binary in floor-server mode serving body.
func startFloorServer(ctx context.Context, getenv func(string) string, dir string, body []byte) (*process, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("tokenbench: floor server: %w", err)
	}
	bodyPath := dir + "/floor-body.json"
	if err := os.WriteFile(bodyPath, body, 0o600); err != nil {
		return nil, "", fmt.Errorf("tokenbench: floor server: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := startProcess("floor server", self, []string{floorServerCommand, "--addr", addr, "--body", bodyPath},
		minimalEnv(getenv), dir+"/floor-server.log")
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr + "/"
	if err := p.waitHTTP(ctx, url, 10*time.Second); err != nil {
		p.stop(time.Second)
		return nil, "", err
	}
	return p, url, nil
}
