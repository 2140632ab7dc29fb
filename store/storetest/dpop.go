package storetest

import (
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// testClientRequireDPoP: Client.RequireDPoP is stored and updated.
func testClientRequireDPoP(t *testing.T, newStore func(*testing.T) store.ClientStore) {
	t.Run("RequireDPoP", func(t *testing.T) {
		s := newStore(t)
		c := suiteClient(t, "mobile")
		c.RequireDPoP = true
		suiteCreateClient(t, s, c)
		got, err := s.ClientByID(t.Context(), c.ID)
		suiteCheckErr(t, "ClientByID", err, nil)
		if !got.RequireDPoP {
			t.Fatal("RequireDPoP not stored")
		}
		if list, err := s.ListClients(t.Context()); err != nil || len(list) != 1 || !list[0].RequireDPoP {
			t.Errorf("ListClients = %+v, %v; want the client with RequireDPoP", list, err)
		}
		u, ok := s.(store.ClientUpdater)
		if !ok {
			return
		}
		updated, err := u.UpdateClient(t.Context(), c.ID, func(c store.Client) (store.Client, error) {
			c.RequireDPoP = false
			return c, nil
		})
		suiteCheckErr(t, "UpdateClient", err, nil)
		if got, _ := s.ClientByID(t.Context(), c.ID); got.RequireDPoP || updated.RequireDPoP {
			t.Error("RequireDPoP still set after the update")
		}
	})
}

// testDPoPBinding: a family bound to a DPoP key (RFC 9449 §5) rotates only
// with that key; any other presentation changes nothing, not even for a
// consumed token (no reuse revocation by a caller without the key).
func testDPoPBinding(t *testing.T, newStores func(*testing.T) RefreshStores) {
	bound := func(t *testing.T, fx *refreshFixture, jkt string) (store.RefreshFamily, store.RefreshToken) {
		t.Helper()
		f := store.RefreshFamily{ID: suiteUUID(t), ClientID: fx.client.ID, UserID: fx.user.ID,
			Username: fx.user.Username, Scope: "read", CreatedAt: fx.start,
			ExpiresAt: fx.start.Add(suiteAbsoluteTTL), DPoPJKT: jkt}
		tok := store.RefreshToken{Hash: suiteTokenHash(t), FamilyID: f.ID, IssuedAt: fx.start,
			IdleExpiresAt: fx.start.Add(suiteIdleTTL)}
		if err := fx.Refresh.CreateFamily(t.Context(), f, tok); err != nil {
			t.Fatalf("CreateFamily: %v", err)
		}
		return f, tok
	}
	const jkt, otherJKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

	t.Run("DPoPBoundRotate", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		f, tok := bound(t, fx, jkt)
		if _, got := fx.lookup(t, tok.Hash); got.DPoPJKT != jkt {
			t.Fatalf("Lookup family DPoPJKT = %q, want %q", got.DPoPJKT, jkt)
		}
		at := fx.start.Add(time.Minute)
		for _, presented := range []string{"", otherJKT, jkt + "x"} {
			req := fx.rotateReq(t, tok.Hash, fx.client.ID, at, 0)
			req.DPoPJKT = presented
			_, err := fx.Refresh.Rotate(t.Context(), req)
			suiteCheckErr(t, "Rotate(jkt "+presented+")", err, store.ErrKeyBinding)
			fx.expectUnchanged(t, tok, f)
			fx.expectAbsent(t, req.New.Hash, "successor")
		}
		req := fx.rotateReq(t, tok.Hash, fx.client.ID, at, 0)
		req.DPoPJKT = jkt
		got, err := fx.Refresh.Rotate(t.Context(), req)
		suiteCheckErr(t, "Rotate(bound key)", err, nil)
		if got.DPoPJKT != jkt {
			t.Errorf("rotated family DPoPJKT = %q, want %q", got.DPoPJKT, jkt)
		}
		// Presenting the consumed token without the key is not reuse: the
		// family stays live.
		stale := fx.rotateReq(t, tok.Hash, fx.client.ID, at.Add(time.Minute), 0)
		_, err = fx.Refresh.Rotate(t.Context(), stale)
		suiteCheckErr(t, "Rotate(consumed, no key)", err, store.ErrKeyBinding)
		if _, fam := fx.lookup(t, req.New.Hash); !fam.RevokedAt.IsZero() {
			t.Error("a presentation without the key revoked the family")
		}
		// With the key, reuse is reuse.
		stale = fx.rotateReq(t, tok.Hash, fx.client.ID, at.Add(time.Minute), 0)
		stale.DPoPJKT = jkt
		_, err = fx.Refresh.Rotate(t.Context(), stale)
		suiteCheckErr(t, "Rotate(consumed, key)", err, store.ErrReused)
	})

	t.Run("DPoPUnboundRotatesWithAnyKey", func(t *testing.T) {
		fx := newRefreshFixture(t, newStores)
		_, tok := fx.family(t)
		req := fx.rotateReq(t, tok.Hash, fx.client.ID, fx.start.Add(time.Minute), 0)
		req.DPoPJKT = jkt
		got, err := fx.Refresh.Rotate(t.Context(), req)
		suiteCheckErr(t, "Rotate(unbound, with key)", err, nil)
		if got.DPoPJKT != "" {
			t.Errorf("an unbound family became bound: %q", got.DPoPJKT)
		}
	})
}
