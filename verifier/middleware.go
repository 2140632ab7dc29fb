package verifier

import (
	"errors"
	"net/http"
	"strings"
)

// Middleware protects a handler with RFC 6750 bearer tokens: the token is
// taken from the Authorization header only (RFC 6750 §2.1; query and form
// tokens are not supported), verified with v, required to carry every scope
// in requiredScopes, and its claims are stored in the request context (see
// ClaimsFromContext). Failures are answered per RFC 6750 §3:
//
//   - no credentials, or another scheme: 401, WWW-Authenticate: Bearer
//     realm="…" with no error code (§3.1);
//   - a malformed or repeated Authorization header: 400 invalid_request;
//   - an invalid, expired or revoked token: 401 invalid_token; when the
//     token is for another audience (and fine otherwise), the
//     error_description says which audiences it has and which one it lacks;
//   - a valid token lacking a scope: 403 insufficient_scope with the
//     required scope attribute;
//   - revocation status unknown (fail closed): 503 with Retry-After.
func Middleware(v *Verifier, requiredScopes ...string) func(http.Handler) http.Handler {
	realm := `realm="` + quote(v.realm) + `"`
	scope := strings.Join(requiredScopes, " ")
	// The challenges are fixed per middleware: build them once.
	var (
		missing      = "Bearer " + realm
		badRequest   = challenge(realm, "invalid_request", "The Authorization header is malformed", "")
		invalidToken = challenge(realm, "invalid_token", "The access token is invalid", "")
		expired      = challenge(realm, "invalid_token", "The access token expired", "")
		revoked      = challenge(realm, "invalid_token", "The access token has been revoked", "")
		insufficient = challenge(realm, "insufficient_scope", "The access token lacks a required scope", scope)
	)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			values := r.Header.Values("Authorization")
			if len(values) == 0 {
				deny(w, http.StatusUnauthorized, missing, "", "")
				return
			}
			if len(values) > 1 {
				deny(w, http.StatusBadRequest, badRequest, "invalid_request", "The Authorization header is malformed")
				return
			}
			scheme, token, _ := strings.Cut(values[0], " ")
			// RFC 7235 §2.1: the auth-scheme is case-insensitive. Another
			// scheme means the client did not try bearer auth (§3.1: no
			// error code).
			if !strings.EqualFold(scheme, "Bearer") {
				deny(w, http.StatusUnauthorized, missing, "", "")
				return
			}
			token = strings.TrimLeft(token, " ")
			if !isB64Token(token) {
				deny(w, http.StatusBadRequest, badRequest, "invalid_request", "The Authorization header is malformed")
				return
			}
			claims, err := v.Verify(r.Context(), token)
			if err != nil {
				var aud *audienceMismatch
				if errors.As(err, &aud) {
					// A well-signed token for another audience is almost
					// always a misconfiguration (the client registered
					// without this audience): say so to the operator and,
					// in the challenge, to the client (RFC 6750 §3).
					v.logger.Warn("verifier: request rejected", "path", r.URL.Path, "error", err)
					desc := aud.description()
					deny(w, http.StatusUnauthorized, challenge(realm, "invalid_token", desc, ""), "invalid_token", desc)
					return
				}
				v.logger.Debug("verifier: request rejected", "path", r.URL.Path, "error", err)
				switch {
				case errors.Is(err, ErrExpired):
					deny(w, http.StatusUnauthorized, expired, "invalid_token", "The access token expired")
				case errors.Is(err, ErrRevoked):
					deny(w, http.StatusUnauthorized, revoked, "invalid_token", "The access token has been revoked")
				case errors.Is(err, ErrInvalidToken):
					deny(w, http.StatusUnauthorized, invalidToken, "invalid_token", "The access token is invalid")
				default: // revocation status unknown, or the request was cancelled
					if !errors.Is(err, ErrRevocationUnavailable) && r.Context().Err() == nil {
						v.logger.Error("verifier: unexpected verification error", "error", err)
					}
					w.Header().Set("Retry-After", "5")
					writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The token's revocation status cannot be checked")
				}
				return
			}
			for _, s := range requiredScopes {
				if !claims.HasScope(s) {
					deny(w, http.StatusForbidden, insufficient, "insufficient_scope", "The access token lacks a required scope")
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
		})
	}
}

// challenge builds a Bearer WWW-Authenticate value (RFC 6750 §3).
func challenge(realm, code, description, scope string) string {
	var b strings.Builder
	b.WriteString("Bearer ")
	b.WriteString(realm)
	b.WriteString(`, error="` + code + `", error_description="` + quote(description) + `"`)
	if scope != "" {
		b.WriteString(`, scope="` + quote(scope) + `"`)
	}
	return b.String()
}

// quote escapes a value for a quoted-string (RFC 7230 §3.2.6) and drops
// control characters.
func quote(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func deny(w http.ResponseWriter, status int, wwwAuthenticate, code, description string) {
	w.Header().Set("WWW-Authenticate", wwwAuthenticate)
	if code == "" {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		return
	}
	writeError(w, status, code, description)
}

// writeError writes a small JSON error body. The descriptions are fixed
// ASCII strings or made by descriptionText (no '"', '\' or control
// characters), so no encoder is needed.
func writeError(w http.ResponseWriter, status int, code, description string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + code + `","error_description":"` + description + `"}` + "\n"))
}

// isB64Token reports whether s matches RFC 6750 §2.1's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for i < len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			i++
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
