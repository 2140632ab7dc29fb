package e2etest

import (
	"context"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/redis"
	"github.com/tokenserver/tokenserver/verifier"
)

// StartPushVerifier runs an in-process resource server: a push revocation
// feed from src, ready (its snapshot loaded) within 30 s, and a verifier of
// issuer's tokens (audience = issuer) consulting it. Both stop at test
// cleanup; name labels the failures.
func StartPushVerifier(t testing.TB, name, issuer string, src verifier.Source, maxStaleness time.Duration) (*verifier.Verifier, *verifier.Push) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	push, err := verifier.NewPush(ctx, verifier.PushConfig{Source: src, MaxStaleness: maxStaleness})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-push.Done() })
	readyCtx, readyCancel := context.WithTimeout(ctx, 30*time.Second)
	defer readyCancel()
	if err := push.Ready(readyCtx); err != nil {
		t.Fatalf("%s: feed not ready: %v", name, err)
	}
	v, err := verifier.New(ctx, verifier.Config{Issuer: issuer, Audience: issuer, Revocation: push})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v, push
}

// RedisFeedSource follows the Redis revocation channel at redisURL (keys
// under prefix) directly, with the Redis denylist as the snapshot. The store
// closes at test cleanup.
func RedisFeedSource(t testing.TB, redisURL, prefix string) verifier.Source {
	t.Helper()
	st, err := redis.Open(context.Background(), redis.Config{URL: redisURL, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	snapshot := func(ctx context.Context) ([]store.Revocation, error) { return st.Active(ctx, time.Now()) }
	return verifier.FeedSource(st, snapshot)
}
