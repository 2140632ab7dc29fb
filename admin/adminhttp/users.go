package adminhttp

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenserver/tokenserver/admin"
	"github.com/tokenserver/tokenserver/store"
)

type userJSON struct {
	ID                string                     `json:"id"`
	Username          string                     `json:"username"`
	Disabled          bool                       `json:"disabled"`
	Email             string                     `json:"email,omitempty"`
	Attributes        map[string]json.RawMessage `json:"attributes"`
	Roles             []string                   `json:"roles"`
	CreatedAt         time.Time                  `json:"created_at"`
	UpdatedAt         time.Time                  `json:"updated_at"`
	PasswordChangedAt time.Time                  `json:"password_changed_at"`
}

func toUserJSON(u store.User) userJSON {
	attrs := u.Attributes
	if attrs == nil {
		attrs = map[string]json.RawMessage{}
	}
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userJSON{ID: u.ID, Username: u.Username, Disabled: u.Disabled, Email: u.Email, Attributes: attrs, Roles: roles,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), PasswordChangedAt: u.PasswordChangedAt.UTC()}
}

type createUserRequest struct {
	Username   string                     `json:"username"`
	Password   string                     `json:"password"`
	Disabled   bool                       `json:"disabled"`
	Email      string                     `json:"email"`
	Attributes map[string]json.RawMessage `json:"attributes"`
	Roles      []string                   `json:"roles"`
}

// updateUserRequest is a PATCH: a member that is present replaces the
// stored value; an absent one is kept (RFC 7396 style, without null).
type updateUserRequest struct {
	Email      *string                     `json:"email"`
	Attributes *map[string]json.RawMessage `json:"attributes"`
	Roles      *[]string                   `json:"roles"`
}

func (h *handler) updateUser(w http.ResponseWriter, r *http.Request) error {
	var in updateUserRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	u, err := h.svc.UpdateProfile(r.Context(), r.PathValue("id"), func(p store.UserProfile) store.UserProfile {
		if in.Email != nil {
			p.Email = *in.Email
		}
		if in.Attributes != nil {
			p.Attributes = *in.Attributes
		}
		if in.Roles != nil {
			p.Roles = *in.Roles
		}
		return p
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

func (h *handler) createUser(w http.ResponseWriter, r *http.Request) error {
	var in createUserRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	u, err := h.svc.CreateUser(r.Context(), admin.NewUser{Username: in.Username, Password: in.Password,
		Disabled: in.Disabled, Profile: store.UserProfile{Email: in.Email, Attributes: in.Attributes, Roles: in.Roles}})
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"users/"+u.ID)
	writeJSON(w, http.StatusCreated, toUserJSON(u))
	return nil
}

func (h *handler) listUsers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > admin.MaxPageSize {
			p := newProblem(http.StatusUnprocessableEntity, TypeValidation, "Invalid request field",
				"must be an integer between 1 and "+strconv.Itoa(admin.MaxPageSize))
			p.Field = "limit"
			return p
		}
		limit = n
	}
	page, err := h.svc.ListUsers(r.Context(), q.Get("cursor"), q.Get("prefix"), limit)
	if err != nil {
		return err
	}
	out := struct {
		Users      []userJSON `json:"users"`
		NextCursor string     `json:"next_cursor,omitempty"`
	}{Users: make([]userJSON, 0, len(page.Users)), NextCursor: page.Next}
	for _, u := range page.Users {
		out.Users = append(out.Users, toUserJSON(u))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := h.svc.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteUser(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type revokedJSON struct {
	RevokedSessions int `json:"revoked_sessions"`
}

func (h *handler) setPassword(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	n, err := h.svc.SetPassword(r.Context(), r.PathValue("id"), in.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, revokedJSON{n})
	return nil
}

func (h *handler) setDisabled(disabled bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		n, err := h.svc.SetDisabled(r.Context(), r.PathValue("id"), disabled)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, revokedJSON{n})
		return nil
	}
}

type sessionJSON struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	Scope      string    `json:"scope"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastUsedAt time.Time `json:"last_used_at"`
}

func (h *handler) listSessions(w http.ResponseWriter, r *http.Request) error {
	list, err := h.svc.Sessions(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := struct {
		Sessions []sessionJSON `json:"sessions"`
	}{Sessions: make([]sessionJSON, 0, len(list))}
	for _, s := range list {
		out.Sessions = append(out.Sessions, sessionJSON{ID: s.ID, ClientID: s.ClientID, Scope: s.Scope,
			CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(), LastUsedAt: s.LastUsedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) endSessions(w http.ResponseWriter, r *http.Request) error {
	n, err := h.svc.EndSessions(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, revokedJSON{n})
	return nil
}

func (h *handler) revokeSession(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.RevokeSession(r.Context(), r.PathValue("id"), r.PathValue("sid")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
