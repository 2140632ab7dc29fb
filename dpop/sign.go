package dpop

import (
	"crypto"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// ProofClaims are what NewProof puts in a proof.
type ProofClaims struct {
	Method string // htm
	URL    string // htu; NewProof drops query and fragment
	// AccessToken, when not "", adds ath (for requests to resource servers).
	AccessToken string
	// Nonce is the server-provided nonce, if any.
	Nonce string
	// ID (jti) defaults to 128 random bits, IssuedAt to now.
	ID       string
	IssuedAt time.Time
}

// NewProof makes a DPoP proof (RFC 9449 §4.2) signed by key: an ECDSA P-256
// (ES256), Ed25519 (EdDSA) or RSA (PS256, or RS256 if alg says so) private
// key. alg "" picks the key's default.
func NewProof(key crypto.Signer, alg string, c ProofClaims) (string, error) {
	pub, def, err := publicJWK(key.Public())
	if err != nil {
		return "", err
	}
	if alg == "" {
		alg = def
	}
	fits := alg == def || (def == "PS256" && alg == "RS256")
	jalg, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok || !allowed(alg, nil) || !fits {
		return "", fmt.Errorf("dpop: alg %q not supported for a %T", alg, key)
	}
	if c.ID == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("dpop: jti: %w", err)
		}
		c.ID = b64.EncodeToString(b[:])
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	htu := c.URL
	if n, ok := NormalizeURL(c.URL); ok {
		htu = n
	}
	hdr, err := json.Marshal(struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}{ProofType, alg, pub.canonical})
	if err != nil {
		return "", fmt.Errorf("dpop: header: %w", err)
	}
	claims := map[string]any{"jti": c.ID, "htm": c.Method, "htu": htu, "iat": c.IssuedAt.Unix()}
	if c.AccessToken != "" {
		claims["ath"] = AccessTokenHash(c.AccessToken)
	}
	if c.Nonce != "" {
		claims["nonce"] = c.Nonce
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("dpop: claims: %w", err)
	}
	signer, err := jws.SignerFor(jalg)
	if err != nil {
		return "", fmt.Errorf("dpop: signer for %s: %w", alg, err)
	}
	input := b64.EncodeToString(hdr) + "." + b64.EncodeToString(payload)
	sig, err := signer.Sign(key, []byte(input))
	if err != nil {
		return "", fmt.Errorf("dpop: sign: %w", err)
	}
	return input + "." + b64.EncodeToString(sig), nil
}
