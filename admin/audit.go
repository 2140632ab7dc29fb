package admin

import (
	"context"

	"github.com/tokenserver/tokenserver/audit"
)

// actorKey is the context key of the acting administrator.
type actorKey struct{}

// WithActor returns ctx naming who acts (for the admin.* audit events): the
// admin API puts the authenticated admin client's id here. It takes
// precedence over Config.Actor.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// actor is who acts: the context's actor, else Config.Actor, else
// audit.ActorCLI.
func (s *Service) actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	if s.cfg.Actor != "" {
		return s.cfg.Actor
	}
	return audit.ActorCLI
}

// audited reports a completed admin action on target (an id: a user id, a
// client id, a session id; never a username or a secret).
func (s *Service) audited(ctx context.Context, action, target string) {
	s.audit.Emit(ctx, audit.Event{Type: audit.AdminType(action), Time: s.now(), Actor: s.actor(ctx),
		Action: action, Target: target})
}
