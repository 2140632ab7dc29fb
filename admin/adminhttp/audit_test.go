package adminhttp_test

import (
	"net/http"
	"testing"

	"github.com/tokenserver/tokenserver/audit"
)

// TestAdminAPIActorIsTheAdminClient: an action through the API names the
// authenticated admin client as its actor (not "cli"), and a refused
// request reports nothing.
func TestAdminAPIActorIsTheAdminClient(t *testing.T) {
	f := newFixture(t)
	alice := f.user(aliceName)
	f.events.Take()
	tok := f.token(usersID, usersSecret, "admin:users")
	if r := f.do("DELETE", "/admin/v1/users/"+alice.ID, f.token(keysID, keysSecret, "admin:keys"), nil); r.status != http.StatusForbidden {
		t.Fatalf("status %d with a keys-only token", r.status)
	}
	if got := f.events.Take(); len(got) != 0 {
		t.Fatalf("a refused request reported %+v", got)
	}
	if r := f.do("DELETE", "/admin/v1/users/"+alice.ID, tok, nil); r.status != http.StatusNoContent {
		t.Fatalf("status %d", r.status)
	}
	got := f.events.Take()
	if len(got) != 1 {
		t.Fatalf("events = %+v, want one", got)
	}
	e := got[0]
	if e.Type != audit.AdminType(audit.ActionUserDelete) || e.Actor != usersID || e.Action != audit.ActionUserDelete || e.Target != alice.ID {
		t.Errorf("event = %+v", e)
	}
}
