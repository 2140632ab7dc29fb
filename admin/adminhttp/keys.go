package adminhttp

import (
	"net/http"
	"time"

	"github.com/tokenserver/tokenserver/keys"
)

type keyJSON struct {
	ID          string     `json:"kid"`
	Algorithm   string     `json:"alg"`
	State       string     `json:"state"`
	Signing     bool       `json:"signing"`
	Published   bool       `json:"published"`
	CreatedAt   time.Time  `json:"created_at"`
	ActivatesAt *time.Time `json:"activates_at,omitempty"`
	RetiredAt   *time.Time `json:"retired_at,omitempty"`
	RemoveAt    *time.Time `json:"remove_at,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func toKeysJSON(list []keys.KeyInfo) []keyJSON {
	out := make([]keyJSON, 0, len(list))
	for _, k := range list {
		out = append(out, keyJSON{ID: k.ID, Algorithm: k.Algorithm, State: string(k.State), Signing: k.Signing,
			Published: k.Published, CreatedAt: k.CreatedAt.UTC(), ActivatesAt: optTime(k.ActivatesAt),
			RetiredAt: optTime(k.RetiredAt), RemoveAt: optTime(k.RemoveAt)})
	}
	return out
}

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request) error {
	list, err := h.svc.Keys(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Keys []keyJSON `json:"keys"`
	}{toKeysJSON(list)})
	return nil
}

func (h *handler) rotateKeys(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		// Emergency retires and unpublishes the current key at once and
		// revokes its tokens (a leaked key).
		Emergency bool `json:"emergency"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := h.svc.RotateKeys(r.Context(), in.Emergency)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Keys        []keyJSON `json:"keys"`
		RevokedKIDs []string  `json:"revoked_kids"`
	}{toKeysJSON(res.Keys), nonNil(res.RevokedKIDs)})
	return nil
}
