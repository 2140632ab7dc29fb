package admin_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/admin"
	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/audit/audittest"
	"github.com/tokenserver/tokenserver/keys"
	"github.com/tokenserver/tokenserver/sessions"
	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/memory"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

const (
	userPassword = "correct horse battery staple"
	newPassword  = "a brand new passphrase 42"
)

// newAuditedService is an admin service on a memory store whose admin
// events (and no others) go to the returned recorder; it holds the user
// "carol" and the confidential client "app".
func newAuditedService(t *testing.T) (*admin.Service, *memory.Store, *audittest.Recorder, store.User) {
	t.Helper()
	ctx := context.Background()
	mem := memory.New(time.Now)
	hasher, err := password.NewHasher(password.Config{
		Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, AllowWeak: true})
	if err != nil {
		t.Fatal(err)
	}
	kek, err := keys.RandomKEK()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := sessions.New(sessions.Config{Users: mem, Refresh: mem, Revocations: mem, AccessTokenTTL: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rec := &audittest.Recorder{}
	svc, err := admin.New(admin.Config{Users: mem, Clients: mem, Refresh: mem, Sessions: sess, Hasher: hasher,
		Keys: keys.Config{Store: mem, Sealer: sealer}, Audit: rec})
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, admin.NewUser{Username: "carol", Password: userPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateClient(ctx, admin.NewClient{ID: "app",
		ClientSettings: admin.ClientSettings{Grants: []string{"password", "refresh_token"}, Scopes: []string{"read"}}}); err != nil {
		t.Fatal(err)
	}
	rec.Take()
	return svc, mem, rec, u
}

// TestAdminActionEvents: every change made through the service is one
// admin.<action> event naming the actor (the CLI by default, or the
// context's) and the id acted on, never a username, password or secret.
func TestAdminActionEvents(t *testing.T) {
	tests := []struct {
		name   string
		act    func(context.Context, *testing.T, *admin.Service, *memory.Store, store.User) (target string, secrets []string)
		action string
	}{
		{"create user", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, _ store.User) (string, []string) {
			u, err := svc.CreateUser(ctx, admin.NewUser{Username: "dave", Password: newPassword})
			if err != nil {
				t.Fatal(err)
			}
			return u.ID, []string{"dave", newPassword}
		}, audit.ActionUserCreate},
		{"update profile", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, u store.User) (string, []string) {
			if _, err := svc.UpdateProfile(ctx, u.ID, func(p store.UserProfile) store.UserProfile {
				p.Roles = []string{"auditor"}
				return p
			}); err != nil {
				t.Fatal(err)
			}
			return u.ID, nil
		}, audit.ActionUserUpdate},
		{"set password", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, u store.User) (string, []string) {
			if _, err := svc.SetPassword(ctx, u.ID, newPassword); err != nil {
				t.Fatal(err)
			}
			return u.ID, []string{newPassword}
		}, audit.ActionUserSetPassword},
		{"disable", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, u store.User) (string, []string) {
			if _, err := svc.SetDisabled(ctx, u.ID, true); err != nil {
				t.Fatal(err)
			}
			return u.ID, nil
		}, audit.ActionUserDisable},
		{"enable", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, u store.User) (string, []string) {
			if _, err := svc.SetDisabled(ctx, u.ID, false); err != nil {
				t.Fatal(err)
			}
			return u.ID, nil
		}, audit.ActionUserEnable},
		{"delete user", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, u store.User) (string, []string) {
			if err := svc.DeleteUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			return u.ID, nil
		}, audit.ActionUserDelete},
		{"end sessions", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, u store.User) (string, []string) {
			if _, err := svc.EndSessions(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			return u.ID, nil
		}, audit.ActionUserEndSessions},
		{"revoke session", func(ctx context.Context, t *testing.T, svc *admin.Service, mem *memory.Store, u store.User) (string, []string) {
			now := time.Now()
			if err := mem.CreateFamily(ctx, store.RefreshFamily{ID: "fam-1", ClientID: "app", UserID: u.ID, Username: u.Username,
				Scope: "read", CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserEpoch: u.CredentialEpoch},
				store.RefreshToken{Hash: "h", IssuedAt: now, IdleExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if err := svc.RevokeSession(ctx, u.ID, "fam-1"); err != nil {
				t.Fatal(err)
			}
			return "fam-1", nil
		}, audit.ActionSessionRevoke},
		{"create client", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, _ store.User) (string, []string) {
			_, secret, err := svc.CreateClient(ctx, admin.NewClient{ID: "svc",
				ClientSettings: admin.ClientSettings{Grants: []string{"client_credentials"}, Scopes: []string{"read"}}})
			if err != nil {
				t.Fatal(err)
			}
			return "svc", []string{secret}
		}, audit.ActionClientCreate},
		{"update client", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, _ store.User) (string, []string) {
			if _, err := svc.UpdateClient(ctx, "app", admin.ClientSettings{Grants: []string{"password"}, Scopes: []string{"read"}}); err != nil {
				t.Fatal(err)
			}
			return "app", nil
		}, audit.ActionClientUpdate},
		{"rotate client secret", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, _ store.User) (string, []string) {
			_, secret, err := svc.RotateClientSecret(ctx, "app", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return "app", []string{secret}
		}, audit.ActionClientRotateSecret},
		{"delete client", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, _ store.User) (string, []string) {
			if err := svc.DeleteClient(ctx, "app"); err != nil {
				t.Fatal(err)
			}
			return "app", nil
		}, audit.ActionClientDelete},
		{"emergency key rotation", func(ctx context.Context, t *testing.T, svc *admin.Service, _ *memory.Store, _ store.User) (string, []string) {
			r, err := svc.RotateKeys(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range r.Keys {
				if k.Signing {
					return k.ID, nil
				}
			}
			t.Fatal("no signing key after the rotation")
			return "", nil
		}, audit.ActionKeysRotate},
	}
	for _, tt := range tests {
		for _, actor := range []string{"", "ops-client"} {
			t.Run(tt.name+"/actor "+actor, func(t *testing.T) {
				svc, mem, rec, u := newAuditedService(t)
				ctx := context.Background()
				wantActor := audit.ActorCLI
				if actor != "" {
					ctx, wantActor = admin.WithActor(ctx, actor), actor
				}
				target, secrets := tt.act(ctx, t, svc, mem, u)
				got := rec.Take()
				if len(got) != 1 {
					t.Fatalf("events = %+v, want one", got)
				}
				e := got[0]
				if e.Type != audit.AdminType(tt.action) || e.Action != tt.action || e.Actor != wantActor || e.Target != target || e.Time.IsZero() {
					t.Errorf("event = %+v, want action %s by %s on %s", e, tt.action, wantActor, target)
				}
				audittest.AssertNoSecrets(t, got, append(secrets, "carol", userPassword, u.PasswordHash)...)
			})
		}
	}
}

// TestRefusedAdminActionEmitsNothing: nothing changed, nothing reported.
func TestRefusedAdminActionEmitsNothing(t *testing.T) {
	svc, _, rec, _ := newAuditedService(t)
	ctx := context.Background()
	if _, err := svc.CreateUser(ctx, admin.NewUser{Username: "carol", Password: newPassword}); err == nil {
		t.Fatal("duplicate user accepted")
	}
	if err := svc.DeleteUser(ctx, "00000000-0000-4000-8000-000000000000"); err == nil {
		t.Fatal("deleting an unknown user succeeded")
	}
	if _, err := svc.RotateKeys(ctx, false); err == nil {
		t.Fatal("a planned rotation before the next key may activate succeeded")
	}
	if got := rec.Take(); len(got) != 0 {
		t.Errorf("events = %+v, want none", got)
	}
}
