package adminhttp

import (
	"net/http"
	"time"

	"github.com/tokenserver/tokenserver/admin"
	"github.com/tokenserver/tokenserver/store"
)

type clientJSON struct {
	ID                 string    `json:"id"`
	Type               string    `json:"type"`
	Grants             []string  `json:"grants"`
	Scopes             []string  `json:"scopes"`
	Audience           []string  `json:"audience"`
	AccessTokenTTL     int64     `json:"access_token_ttl"`
	RefreshIdleTTL     int64     `json:"refresh_idle_ttl"`
	RefreshAbsoluteTTL int64     `json:"refresh_absolute_ttl"`
	RequireDPoP        bool      `json:"require_dpop"`
	CreatedAt          time.Time `json:"created_at"`
	// PreviousSecretExpiresAt is set while a rotated-out secret still works.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	// ClientSecret is returned once, by create and rotate.
	ClientSecret string `json:"client_secret,omitempty"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func toClientJSON(c store.Client, now time.Time) clientJSON {
	out := clientJSON{ID: c.ID, Type: "confidential", Grants: nonNil(c.Grants), Scopes: nonNil(c.Scopes),
		Audience: nonNil(c.Audience), AccessTokenTTL: int64(c.AccessTokenTTL / time.Second),
		RefreshIdleTTL: int64(c.RefreshIdleTTL / time.Second), RefreshAbsoluteTTL: int64(c.RefreshAbsoluteTTL / time.Second),
		RequireDPoP: c.RequireDPoP, CreatedAt: c.CreatedAt.UTC()}
	if c.Public() {
		out.Type = "public"
	}
	if c.PreviousSecretHash != "" && now.Before(c.PreviousSecretExpiresAt) {
		t := c.PreviousSecretExpiresAt.UTC()
		out.PreviousSecretExpiresAt = &t
	}
	return out
}

// clientSettingsJSON are the settings a create or update sends; lifetimes
// are whole seconds, 0 meaning the server default.
type clientSettingsJSON struct {
	Grants             []string `json:"grants"`
	Scopes             []string `json:"scopes"`
	Audience           []string `json:"audience"`
	AccessTokenTTL     int64    `json:"access_token_ttl"`
	RefreshIdleTTL     int64    `json:"refresh_idle_ttl"`
	RefreshAbsoluteTTL int64    `json:"refresh_absolute_ttl"`
	// RequireDPoP: absent means false.
	RequireDPoP bool `json:"require_dpop"`
}

// maxTTLSeconds keeps lifetimes far from time.Duration overflow.
const maxTTLSeconds = 10 * 365 * 24 * 3600

func (s clientSettingsJSON) settings() (admin.ClientSettings, error) {
	for field, v := range map[string]int64{"access_token_ttl": s.AccessTokenTTL,
		"refresh_idle_ttl": s.RefreshIdleTTL, "refresh_absolute_ttl": s.RefreshAbsoluteTTL} {
		if v < 0 || v > maxTTLSeconds {
			return admin.ClientSettings{}, &admin.ValidationError{Field: field, Detail: "must be between 0 and 315360000 seconds"}
		}
	}
	return admin.ClientSettings{Grants: s.Grants, Scopes: s.Scopes, Audience: s.Audience,
		AccessTokenTTL:     time.Duration(s.AccessTokenTTL) * time.Second,
		RefreshIdleTTL:     time.Duration(s.RefreshIdleTTL) * time.Second,
		RefreshAbsoluteTTL: time.Duration(s.RefreshAbsoluteTTL) * time.Second, RequireDPoP: s.RequireDPoP}, nil
}

func (h *handler) createClient(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ID     string `json:"id"`
		Public bool   `json:"public"`
		clientSettingsJSON
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	settings, err := in.settings()
	if err != nil {
		return err
	}
	// The API always generates the secret: it is returned once.
	c, secret, err := h.svc.CreateClient(r.Context(), admin.NewClient{ID: in.ID, Public: in.Public, ClientSettings: settings})
	if err != nil {
		return err
	}
	out := toClientJSON(c, time.Now())
	out.ClientSecret = secret
	w.Header().Set("Location", Prefix+"clients/"+c.ID)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h *handler) listClients(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.svc.ListClients(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Clients []clientJSON `json:"clients"`
	}{Clients: make([]clientJSON, 0, len(cs))}
	now := time.Now()
	for _, c := range cs {
		out.Clients = append(out.Clients, toClientJSON(c, now))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) getClient(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.Client(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toClientJSON(c, time.Now()))
	return nil
}

func (h *handler) updateClient(w http.ResponseWriter, r *http.Request) error {
	var in clientSettingsJSON
	if err := decode(w, r, &in); err != nil {
		return err
	}
	settings, err := in.settings()
	if err != nil {
		return err
	}
	c, err := h.svc.UpdateClient(r.Context(), r.PathValue("id"), settings)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toClientJSON(c, time.Now()))
	return nil
}

func (h *handler) deleteClient(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteClient(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		// OverlapSeconds is how long the current secret keeps working.
		OverlapSeconds int64 `json:"overlap_seconds"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.OverlapSeconds < 0 || in.OverlapSeconds > int64(admin.MaxSecretOverlap/time.Second) {
		return &admin.ValidationError{Field: "overlap_seconds", Detail: "must be between 0 and 2592000"}
	}
	c, secret, err := h.svc.RotateClientSecret(r.Context(), r.PathValue("id"), time.Duration(in.OverlapSeconds)*time.Second)
	if err != nil {
		return err
	}
	out := toClientJSON(c, time.Now())
	out.ClientSecret = secret
	writeJSON(w, http.StatusOK, out)
	return nil
}
