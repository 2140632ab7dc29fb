package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
)

func TestSmokeRotate(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := memory.New(nil)
	if err := s.CreateUser(ctx, store.User{ID: "u1", Username: "Alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, store.Client{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	f := store.RefreshFamily{ID: "f1", ClientID: "c1", UserID: "u1", ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateFamily(ctx, f, store.RefreshToken{Hash: "h1", IdleExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	req := store.RotateRequest{OldHash: "h1", ClientID: "c1", New: store.RefreshToken{Hash: "h2", IdleExpiresAt: now.Add(time.Minute)}, Now: now}
	if _, err := s.Rotate(ctx, req); err != nil {
		t.Fatal(err)
	}
	req.New.Hash = "h3"
	if _, err := s.Rotate(ctx, req); !errors.Is(err, store.ErrReused) {
		t.Fatalf("second rotate: %v, want ErrReused", err)
	}
}
