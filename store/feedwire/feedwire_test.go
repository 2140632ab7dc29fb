package feedwire_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/feedwire"
)

// The wire format is what deployed resource servers parse (the README
// documents it): these bytes change only on purpose.
func TestWireFormat(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rs := []store.Revocation{
		{Kind: store.RevokeJTI, Value: "j1", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0},
		{Kind: store.RevokeSub, Value: "u1", NotBefore: t0, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0},
	}
	got, err := json.Marshal(feedwire.SnapshotOf(rs))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"revocations":[` +
		`{"kind":"jti","value":"j1","expires_at":"2026-12-01T11:00:00Z","created_at":"2026-12-01T10:00:00Z"},` +
		`{"kind":"sub","value":"u1","not_before":"2026-12-01T10:00:00Z","expires_at":"2026-12-01T11:00:00Z","created_at":"2026-12-01T10:00:00Z"}]}`
	if string(got) != want {
		t.Errorf("snapshot\n got %s\nwant %s", got, want)
	}
	if empty, _ := json.Marshal(feedwire.SnapshotOf(nil)); string(empty) != `{"revocations":[]}` {
		t.Errorf("empty snapshot %s, want an empty list, not null", empty)
	}

	var back feedwire.Snapshot
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	for i, r := range back.Store() {
		if r != rs[i] {
			t.Errorf("round trip %d: %+v, want %+v", i, r, rs[i])
		}
	}
	// An unknown kind survives the trip, for the consumer to ignore.
	var odd feedwire.Revocation
	if err := json.Unmarshal([]byte(`{"kind":"future","value":"v","expires_at":"2026-12-01T11:00:00Z"}`), &odd); err != nil || odd.Kind != "future" {
		t.Errorf("unknown kind: %+v, %v", odd, err)
	}
}
