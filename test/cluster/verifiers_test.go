package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/internal/e2etest"
	"github.com/tokenserver/tokenserver/verifier"
)

// maxStaleness is the verifiers' MaxStaleness: short, so a lost feed fails
// closed quickly.
const maxStaleness = 3 * time.Second

// resourceServer is an in-process resource server: a verifier with a push
// revocation feed.
type resourceServer struct {
	name string
	v    *verifier.Verifier
	push *verifier.Push
}

// sseResourceServer follows node's /revocations/stream; its keys come from
// the issuer (the balancer).
func sseResourceServer(t *testing.T, issuer, node, clientID, secret string) *resourceServer {
	t.Helper()
	return newResourceServer(t, "SSE verifier at "+node, issuer, verifier.SSESource(node, clientID, secret, nil))
}

// redisResourceServer follows the Redis channel through the sentinels (the
// nodes' REDIS_URL), with the Redis denylist as its snapshot.
func redisResourceServer(t *testing.T, issuer, redisURL string) *resourceServer {
	t.Helper()
	return newResourceServer(t, "Redis verifier (sentinel)", issuer, e2etest.RedisFeedSource(t, redisURL, ""))
}

func newResourceServer(t *testing.T, name, issuer string, src verifier.Source) *resourceServer {
	t.Helper()
	v, push := e2etest.StartPushVerifier(t, name, issuer, src, maxStaleness)
	return &resourceServer{name: name, v: v, push: push}
}

// verify returns Verify's error: nil means the token is accepted; any
// error (revoked, invalid, revocation status unavailable) is a rejection.
func (rs *resourceServer) verify(token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	_, err := rs.v.Verify(ctx, token)
	return err
}
