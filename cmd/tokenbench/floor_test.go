package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFloorServerWritesTheBody(t *testing.T) {
	body := []byte(`{"keys":[{"kty":"EC","kid":"k1"}]}`)
	path := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{floorServerCommand, "--addr", addr, "--body", path}, os.Getenv, io.Discard, io.Discard)
	}()

	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err = http.Get("http://" + addr + "/anything"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("floor server never answered: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != string(body) {
		t.Errorf("GET = %d %q, want 200 %q", resp.StatusCode, got, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("floor server returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("floor server did not stop")
	}
}
