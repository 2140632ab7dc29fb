package main

import (
	"context"

	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/tokenserver"
)

// readyChecks are /readyz's checks: the backends' (postgres critical,
// redis not) and the signing key, without which no token can be signed.
func readyChecks(b *backends, km *keys.Manager) []tokenserver.ReadyCheck {
	return append(b.ready[:len(b.ready):len(b.ready)], tokenserver.ReadyCheck{
		Name: "signing key", Check: func(context.Context) error { return km.Ready() }, Critical: true,
	})
}
