package keys

import (
	"strconv"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// counterFresh returns fake records; the pure lifecycle functions never look
// at key material.
func counterFresh(now time.Time, p policy) freshFunc {
	n := 0
	return func(alg string) (store.SigningKey, error) {
		n++
		return store.SigningKey{ID: alg + "-new-" + strconv.Itoa(n), Algorithm: alg, State: store.KeyNext,
			CreatedAt: now, ActivatesAt: p.activatesAt(now)}, nil
	}
}

func TestRotateAlgEdgeCases(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := policy{maxAge: 10 * time.Minute, margin: time.Minute, maxTokenTTL: 15 * time.Minute}
	current := store.SigningKey{ID: "cur", Algorithm: ES256, State: store.KeyCurrent, ActivatesAt: now.Add(-time.Hour)}
	tests := []struct {
		name      string
		set       []store.SigningKey
		emergency bool
		wantErr   bool
		// wantCurrent is the ID of the current key afterwards.
		wantCurrent string
	}{
		{"scheduled without a next key", []store.SigningKey{current}, false, true, ""},
		{"emergency without a next key", []store.SigningKey{current}, true, false, "ES256-new-1"},
		{"no current key", []store.SigningKey{{ID: "n", Algorithm: ES256, State: store.KeyNext}}, true, true, ""},
		{"scheduled", []store.SigningKey{current, {ID: "n", Algorithm: ES256, State: store.KeyNext, ActivatesAt: now}}, false, false, "n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rotateAlg(append([]store.SigningKey(nil), tt.set...), ES256, now, p, tt.emergency, counterFresh(now, p))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr {
				return
			}
			states := map[store.KeyState]int{}
			for _, k := range out {
				states[k.State]++
				switch {
				case k.State == store.KeyCurrent && k.ID != tt.wantCurrent:
					t.Fatalf("current is %s, want %s", k.ID, tt.wantCurrent)
				case k.ID == "cur":
					want := now.Add(p.maxTokenTTL + p.maxAge + p.margin)
					if tt.emergency {
						want = now
					}
					if k.State != store.KeyRetired || !k.RetiredAt.Equal(now) || !k.RemoveAt.Equal(want) {
						t.Fatalf("old current %+v", k)
					}
				}
			}
			if states[store.KeyCurrent] != 1 || states[store.KeyNext] != 1 || states[store.KeyRetired] != 1 {
				t.Fatalf("states %v", states)
			}
		})
	}
}

func TestPruneAndRemovable(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	set := []store.SigningKey{
		{ID: "past", State: store.KeyRetired, RemoveAt: now.Add(-time.Second)},
		{ID: "at", State: store.KeyRetired, RemoveAt: now},
		{ID: "future", State: store.KeyRetired, RemoveAt: now.Add(time.Second)},
		{ID: "static", State: store.KeyRetired},
		{ID: "current", State: store.KeyCurrent},
	}
	out, changed := prune(set, now)
	if !changed || len(out) != 3 {
		t.Fatalf("prune kept %d (changed %v)", len(out), changed)
	}
	for _, k := range out {
		if k.ID == "past" || k.ID == "at" {
			t.Fatalf("kept %s", k.ID)
		}
	}
	if _, changed := prune(out, now); changed {
		t.Fatal("second prune changed the set")
	}
}
