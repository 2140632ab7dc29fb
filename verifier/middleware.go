package verifier

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tokenserver/tokenserver/dpop"
)

// Middleware protects a handler with access tokens taken from the
// Authorization header only (RFC 6750 §2.1; query and form tokens are not
// supported): bearer tokens with the Bearer scheme (RFC 6750) and
// DPoP-bound tokens with the DPoP scheme and a DPoP proof (RFC 9449 §7.1),
// as Config.DPoP.Mode allows. The token is verified with v (VerifyDPoP for
// the DPoP scheme), required to carry every scope in requiredScopes, and
// its claims are stored in the request context (see ClaimsFromContext).
// Failures are answered per RFC 6750 §3 and RFC 9449 §7.1, with a
// challenge of the scheme the client used:
//
//   - no credentials, or another scheme: 401 with a challenge per accepted
//     scheme and no error code (`Bearer realm="…"`, `DPoP realm="…",
//     algs="…"`, one WWW-Authenticate field each);
//   - a malformed or repeated Authorization header: 400 invalid_request;
//   - an invalid, expired or revoked token: 401 invalid_token; when the
//     token is for another audience (and fine otherwise), the
//     error_description says which audiences it has and which one it lacks;
//   - a DPoP-bound token with the Bearer scheme: 401 invalid_token (RFC
//     9449 §7.2), with a DPoP challenge besides the Bearer one;
//   - with the DPoP scheme: no proof, more than one, or a bad one: 401
//     invalid_dpop_proof; a proof by another key than the token's cnf.jkt,
//     or a token without cnf.jkt: 401 invalid_token; a proof without the
//     current server nonce (Config.DPoP.Nonces): 401 use_dpop_nonce with a
//     DPoP-Nonce header (§9). Every DPoP challenge carries algs;
//   - a valid token lacking a scope: 403 insufficient_scope with the
//     required scope attribute;
//   - revocation status unknown, or the DPoP replay cache failing (fail
//     closed): 503 with Retry-After.
func Middleware(v *Verifier, requiredScopes ...string) func(http.Handler) http.Handler {
	bearer := newChallenges(v, "Bearer", "", requiredScopes)
	var dp *challenges
	if v.dpop.mode != DPoPDisabled {
		dp = newChallenges(v, "DPoP", v.dpop.algs, requiredScopes)
	}
	// A request without credentials is offered every accepted scheme.
	var missing []string
	if v.dpop.mode != DPoPRequired {
		missing = append(missing, bearer.missing)
	}
	if dp != nil {
		missing = append(missing, dp.missing)
	}
	// A bound token sent as Bearer is told to use DPoP.
	boundAsBearer := []string{challenge("Bearer", bearer.realm, "invalid_token", descBoundAsBearer, "", "")}
	if dp != nil {
		boundAsBearer = append(boundAsBearer, dp.missing)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			values := r.Header.Values("Authorization")
			if len(values) == 0 {
				deny(w, http.StatusUnauthorized, missing, "", "")
				return
			}
			if len(values) > 1 {
				deny(w, http.StatusBadRequest, bearer.badRequest, "invalid_request", descMalformed)
				return
			}
			scheme, token, _ := strings.Cut(values[0], " ")
			// RFC 7235 §2.1: the auth-scheme is case-insensitive. Another
			// scheme means the client did not try our schemes (RFC 6750
			// §3.1: no error code).
			var ch *challenges
			switch {
			case strings.EqualFold(scheme, "Bearer") && v.dpop.mode != DPoPRequired:
				ch = bearer
			case strings.EqualFold(scheme, "DPoP") && dp != nil:
				ch = dp
			default:
				deny(w, http.StatusUnauthorized, missing, "", "")
				return
			}
			token = strings.TrimLeft(token, " ")
			if !isB64Token(token) {
				deny(w, http.StatusBadRequest, ch.badRequest, "invalid_request", descMalformed)
				return
			}
			var (
				claims *Claims
				err    error
			)
			if ch == bearer {
				claims, err = v.Verify(r.Context(), token)
			} else {
				claims, err = v.verifyDPoPRequest(r, token)
			}
			if err != nil {
				v.refuse(w, r, ch, boundAsBearer, err)
				return
			}
			for _, s := range requiredScopes {
				if !claims.HasScope(s) {
					deny(w, http.StatusForbidden, ch.insufficient, "insufficient_scope", descInsufficient)
					return
				}
			}
			if ch == dp && v.dpop.nonces != nil {
				// §9: a fresh nonce with every answer spares the client a
				// use_dpop_nonce round trip when the current one ages out.
				if n, err := v.dpop.nonces.Issue(); err == nil {
					w.Header().Set(dpop.NonceHeader, n)
				}
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
		})
	}
}

// verifyDPoPRequest checks the DPoP header of r (RFC 9449 §4.3 check 1:
// exactly one) and then token and proof with VerifyDPoP.
func (v *Verifier) verifyDPoPRequest(r *http.Request, token string) (*Claims, error) {
	proofs := r.Header.Values(dpop.HeaderName)
	switch len(proofs) {
	case 0:
		return nil, errNoProof
	case 1:
	default:
		return nil, errTwoProofs
	}
	return v.VerifyDPoP(r.Context(), token, proofs[0], r.Method, v.dpop.requestURL(r))
}

var (
	errNoProof   = fmt.Errorf("%w: no DPoP header", dpop.ErrInvalidProof)
	errTwoProofs = fmt.Errorf("%w: more than one DPoP header", dpop.ErrInvalidProof)
)

// refuse answers a request whose token or proof did not verify.
func (v *Verifier) refuse(w http.ResponseWriter, r *http.Request, ch *challenges, boundAsBearer []string, err error) {
	var aud *audienceMismatch
	if errors.As(err, &aud) {
		// A well-signed token for another audience is almost always a
		// misconfiguration (the client registered without this audience):
		// say so to the operator and, in the challenge, to the client
		// (RFC 6750 §3).
		v.logger.Warn("verifier: request rejected", "path", r.URL.Path, "error", err)
		desc := aud.description()
		deny(w, http.StatusUnauthorized, ch.with("invalid_token", desc), "invalid_token", desc)
		return
	}
	v.logger.Debug("verifier: request rejected", "path", r.URL.Path, "error", err)
	switch {
	case errors.Is(err, ErrDPoPBound):
		// RFC 9449 §7.2: a bound token is no bearer token.
		deny(w, http.StatusUnauthorized, boundAsBearer, "invalid_token", descBoundAsBearer)
	case errors.Is(err, ErrExpired):
		deny(w, http.StatusUnauthorized, ch.expired, "invalid_token", descExpired)
	case errors.Is(err, ErrRevoked):
		deny(w, http.StatusUnauthorized, ch.revoked, "invalid_token", descRevoked)
	case errors.Is(err, ErrDPoPKeyMismatch):
		deny(w, http.StatusUnauthorized, ch.keyMismatch, "invalid_token", descKeyMismatch)
	case errors.Is(err, ErrNotDPoPBound):
		deny(w, http.StatusUnauthorized, ch.notBound, "invalid_token", descNotBound)
	case errors.Is(err, ErrInvalidToken):
		deny(w, http.StatusUnauthorized, ch.invalidToken, "invalid_token", descInvalid)
	case errors.Is(err, dpop.ErrUseNonce):
		// §9: 401 use_dpop_nonce with the nonce to use.
		n, nerr := v.dpop.nonces.Issue()
		if nerr != nil {
			v.logger.Error("verifier: cannot make a DPoP nonce", "error", nerr)
			unavailable(w, "A DPoP nonce cannot be made")
			return
		}
		w.Header().Set(dpop.NonceHeader, n)
		deny(w, http.StatusUnauthorized, ch.useNonce, "use_dpop_nonce", descUseNonce)
	case errors.Is(err, dpop.ErrInvalidProof):
		// The reason helps client developers; it quotes only what the
		// client sent, made safe by descriptionText.
		reason := strings.TrimPrefix(err.Error(), dpop.ErrInvalidProof.Error()+": ")
		desc := descriptionText("Invalid DPoP proof: "+reason, maxProofDescription)
		deny(w, http.StatusUnauthorized, ch.with("invalid_dpop_proof", desc), "invalid_dpop_proof", desc)
	case errors.Is(err, ErrReplayCheckUnavailable):
		v.logger.Error("verifier: DPoP replay check failed", "error", err)
		unavailable(w, "The DPoP proof cannot be checked for replay")
	default: // revocation status unknown, or the request was cancelled
		if !errors.Is(err, ErrRevocationUnavailable) && r.Context().Err() == nil {
			v.logger.Error("verifier: unexpected verification error", "error", err)
		}
		unavailable(w, "The token's revocation status cannot be checked")
	}
}

func unavailable(w http.ResponseWriter, description string) {
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", description)
}

// Fixed error descriptions (RFC 6750 §3 charset).
const (
	descMalformed     = "The Authorization header is malformed"
	descInvalid       = "The access token is invalid"
	descExpired       = "The access token expired"
	descRevoked       = "The access token has been revoked"
	descInsufficient  = "The access token lacks a required scope"
	descBoundAsBearer = "The access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof"
	descNotBound      = "The access token is not DPoP-bound: send it with the Bearer scheme"
	// The wording of RFC 9449 §7.1's example.
	descKeyMismatch = "Invalid DPoP key binding"
	descUseNonce    = "Resource server requires nonce in DPoP proof"
	// maxProofDescription bounds an invalid_dpop_proof description.
	maxProofDescription = 200
)

// challenges are one scheme's WWW-Authenticate values, fixed per
// middleware: built once.
type challenges struct {
	scheme, realm, algs string
	missing             string
	badRequest          []string
	invalidToken        []string
	expired             []string
	revoked             []string
	keyMismatch         []string
	notBound            []string
	useNonce            []string
	insufficient        []string
}

func newChallenges(v *Verifier, scheme, algs string, requiredScopes []string) *challenges {
	c := &challenges{scheme: scheme, realm: `realm="` + quote(v.realm) + `"`, algs: algs}
	c.missing = scheme + " " + c.realm
	if algs != "" {
		c.missing += `, algs="` + algs + `"`
	}
	c.badRequest = c.with("invalid_request", descMalformed)
	c.invalidToken = c.with("invalid_token", descInvalid)
	c.expired = c.with("invalid_token", descExpired)
	c.revoked = c.with("invalid_token", descRevoked)
	c.keyMismatch = c.with("invalid_token", descKeyMismatch)
	c.notBound = c.with("invalid_token", descNotBound)
	c.useNonce = c.with("use_dpop_nonce", descUseNonce)
	c.insufficient = []string{challenge(scheme, c.realm, "insufficient_scope", descInsufficient, strings.Join(requiredScopes, " "), algs)}
	return c
}

// with is the scheme's challenge with an error code and description.
func (c *challenges) with(code, description string) []string {
	return []string{challenge(c.scheme, c.realm, code, description, "", c.algs)}
}

// challenge builds a WWW-Authenticate value (RFC 6750 §3, RFC 9449 §7.1:
// algs for DPoP).
func challenge(scheme, realm, code, description, scope, algs string) string {
	var b strings.Builder
	b.WriteString(scheme + " ")
	b.WriteString(realm)
	b.WriteString(`, error="` + code + `", error_description="` + quote(description) + `"`)
	if scope != "" {
		b.WriteString(`, scope="` + quote(scope) + `"`)
	}
	if algs != "" {
		b.WriteString(`, algs="` + algs + `"`)
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

// deny answers with one WWW-Authenticate field per challenge (RFC 9110
// §11.6.1 allows either form; separate fields keep each one readable with
// Header.Get).
func deny(w http.ResponseWriter, status int, wwwAuthenticate []string, code, description string) {
	// A copy: the slices are shared by every request.
	w.Header()["Www-Authenticate"] = slices.Clone(wwwAuthenticate)
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
