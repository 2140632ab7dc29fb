package tokenserver

import (
	"encoding/json"
	"net/http"
	"testing"
)

// BenchmarkPasswordGrant measures the token endpoint around the password
// hash (tiny test parameters, so the rest of the request dominates).
func BenchmarkPasswordGrant(b *testing.B) {
	h := newHarness(b)
	body := loginBody(aliceName, alicePassword)
	auth := withBasic(webID, webSecret)
	b.ReportAllocs()
	for b.Loop() {
		if rec := h.token(body, auth); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkRefreshGrant measures one rotation: lookup, user check, sign,
// rotate, respond.
func BenchmarkRefreshGrant(b *testing.B) {
	h := newHarness(b)
	rt := h.login("").RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		rec := h.refresh(rt)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var tj tokenJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &tj); err != nil {
			b.Fatal(err)
		}
		rt = tj.RefreshToken
	}
}

func BenchmarkIssueAccessToken(b *testing.B) {
	h := newHarness(b)
	client, err := h.mem.ClientByID(b.Context(), webID)
	if err != nil {
		b.Fatal(err)
	}
	sess := session{userID: aliceID, username: aliceName, familyID: "family", scope: client.Scopes}
	now := h.clock.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := h.srv.issueAccessToken(client, sess, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJWKS(b *testing.B) {
	h := newHarness(b)
	b.ReportAllocs()
	for b.Loop() {
		if rec := h.do(http.MethodGet, "/.well-known/jwks.json", ""); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
