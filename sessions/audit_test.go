package sessions_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/audit/audittest"
)

func TestSessionAuditEvents(t *testing.T) {
	const newHash = "$argon2id$new-secret-hash"
	tests := []struct {
		name string
		act  func(context.Context, *fixture) error
		want []audit.Event
	}{
		{"revoke by the client", func(ctx context.Context, fx *fixture) error {
			return fx.svc.RevokeSession(ctx, "fam1", 0, audit.CauseRevoke)
		}, []audit.Event{{Type: audit.SessionRevoked, FamilyID: "fam1", Cause: audit.CauseRevoke}}},
		{"revoke on reuse", func(ctx context.Context, fx *fixture) error {
			return fx.svc.RevokeSession(ctx, "fam1", 0, audit.CauseReuse)
		}, []audit.Event{{Type: audit.SessionRevoked, FamilyID: "fam1", Cause: audit.CauseReuse}}},
		{"revoke by an administrator", func(ctx context.Context, fx *fixture) error {
			return fx.svc.RevokeSession(ctx, "fam1", 0, audit.CauseAdmin)
		}, []audit.Event{
			{Type: audit.SessionRevoked, FamilyID: "fam1", Cause: audit.CauseAdmin},
			{Type: audit.TokenRevoked, FamilyID: "fam1", Kind: audit.KindSession},
		}},
		{"end user sessions", func(ctx context.Context, fx *fixture) error {
			_, err := fx.svc.EndUserSessions(ctx, userID)
			return err
		}, []audit.Event{
			{Type: audit.SessionRevoked, Subject: userID, FamilyID: "fam1", Cause: audit.CauseAdmin},
			{Type: audit.TokenRevoked, Subject: userID, Kind: audit.KindUser},
		}},
		{"set password", func(ctx context.Context, fx *fixture) error {
			_, err := fx.svc.SetPassword(ctx, userID, newHash)
			return err
		}, []audit.Event{
			{Type: audit.SessionRevoked, Subject: userID, FamilyID: "fam1", Cause: audit.CauseCredentialChange},
			{Type: audit.TokenRevoked, Subject: userID, Kind: audit.KindUser},
		}},
		{"disable", func(ctx context.Context, fx *fixture) error {
			_, err := fx.svc.SetDisabled(ctx, userID, true)
			return err
		}, []audit.Event{
			{Type: audit.SessionRevoked, Subject: userID, FamilyID: "fam1", Cause: audit.CauseCredentialChange},
			{Type: audit.TokenRevoked, Subject: userID, Kind: audit.KindUser},
		}},
		{"enable ends nothing", func(ctx context.Context, fx *fixture) error {
			_, err := fx.svc.SetDisabled(ctx, userID, false)
			return err
		}, nil},
		{"delete user", func(ctx context.Context, fx *fixture) error {
			return fx.svc.DeleteUser(ctx, userID)
		}, []audit.Event{
			{Type: audit.SessionRevoked, Subject: userID, FamilyID: "fam1", Cause: audit.CauseAdmin},
			{Type: audit.TokenRevoked, Subject: userID, Kind: audit.KindUser},
		}},
		{"revoke signing key", func(ctx context.Context, fx *fixture) error {
			return fx.svc.RevokeSigningKey(ctx, "kid-leaked", time.Minute)
		}, []audit.Event{{Type: audit.TokenRevoked, KID: "kid-leaked", Kind: audit.KindKID}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 0)
			if err := tt.act(t.Context(), fx); err != nil {
				t.Fatal(err)
			}
			got := fx.events.Take()
			for i := range got {
				if !got[i].Time.Equal(fx.now) {
					t.Errorf("event %d time = %v, want the service clock %v", i, got[i].Time, fx.now)
				}
				got[i].Time = time.Time{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("events:\n got %+v\nwant %+v", got, tt.want)
			}
			audittest.AssertNoSecrets(t, got, "alice", newHash, fx.user.PasswordHash, fx.tok.Hash)
		})
	}
}

// TestFailedRevocationEmitsNothing: an event says a revocation happened;
// one that was not recorded must not be reported.
func TestFailedRevocationEmitsNothing(t *testing.T) {
	fx := newFixture(t, 0)
	if err := fx.svc.RevokeSigningKey(t.Context(), "", time.Minute); err == nil {
		t.Fatal("empty kid accepted")
	}
	if err := fx.svc.RevokeSession(t.Context(), "", 0, audit.CauseAdmin); err == nil {
		t.Fatal("empty family accepted")
	}
	if got := fx.events.Take(); len(got) != 0 {
		t.Errorf("events = %+v, want none", got)
	}
}
