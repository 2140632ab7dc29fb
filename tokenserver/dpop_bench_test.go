package tokenserver

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tokenserver/tokenserver/internal/dpoptest"
)

// The DPoP grants against BenchmarkPasswordGrant / BenchmarkRefreshGrant
// (Bearer): the difference is one proof check (parse, one ES256
// verification, the replay cache) and the cnf claim. Proofs are made
// outside the timed part: that is the client's cost.

func BenchmarkPasswordGrantDPoP(b *testing.B) {
	h := newHarness(b)
	key := dpoptest.NewKey(b)
	body := loginBody(aliceName, alicePassword)
	auth := withBasic(webID, webSecret)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		proof := withDPoP(h.proofFor(key, ""))
		b.StartTimer()
		if rec := h.token(body, auth, proof); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkRefreshGrantDPoP(b *testing.B) {
	h := newHarness(b)
	key := dpoptest.NewKey(b)
	rt := h.mustToken(h.cliLogin(withDPoP(h.proofFor(key, "")))).RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		proof := withDPoP(h.proofFor(key, ""))
		b.StartTimer()
		rec := h.cliRefresh(rt, proof)
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

// BenchmarkRefreshGrantPublic is the Bearer baseline of
// BenchmarkRefreshGrantDPoP: the same public client, no proof.
func BenchmarkRefreshGrantPublic(b *testing.B) {
	h := newHarness(b)
	rt := h.mustToken(h.cliLogin()).RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		rec := h.cliRefresh(rt)
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
