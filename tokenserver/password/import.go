package password

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// djangoPBKDF2Prefix starts the hashes of Django's default hasher,
// PBKDF2PasswordHasher.
const djangoPBKDF2Prefix = "pbkdf2_sha256$"

// Import converts a hash exported from another system into the stored form
// that Verify accepts. It accepts every stored form (see Check) unchanged,
// and Django's pbkdf2_sha256$<iterations>$<salt>$<base64 hash>. Every
// failure wraps ErrMalformed.
func Import(encoded string) (string, error) {
	if len(encoded) > maxEncodedLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxEncodedLen)
	}
	switch {
	case strings.HasPrefix(encoded, djangoPBKDF2Prefix):
		p, err := parseDjango(encoded)
		if err != nil {
			return "", err
		}
		return p.encode(), nil
	case strings.HasPrefix(encoded, "!"):
		// Django's set_unusable_password: the account has no password.
		return "", fmt.Errorf("%w: an unusable password (Django's \"!\" marker): the account has no password to import", ErrMalformed)
	}
	if err := Check(encoded); err != nil {
		return "", err
	}
	return encoded, nil
}

// parseDjango parses Django's PBKDF2PasswordHasher format: PBKDF2-HMAC-SHA256
// over the UTF-8 password with the salt string's UTF-8 bytes as salt, the
// 32-byte result in standard base64 with padding. Django recomputes a
// 32-byte key to check it, so no other length is a Django hash.
func parseDjango(encoded string) (pbkdf2Hash, error) {
	fields := strings.Split(encoded, "$")
	if len(fields) != 4 {
		return pbkdf2Hash{}, fmt.Errorf("%w: Django hash must be pbkdf2_sha256$<iterations>$<salt>$<hash>", ErrMalformed)
	}
	iterations, err := parseDecimal(fields[1], maxPBKDF2Work)
	if err != nil {
		return pbkdf2Hash{}, fmt.Errorf("%w: Django pbkdf2_sha256 iterations %q: %v", ErrMalformed, fields[1], err)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(fields[3])
	if err != nil {
		return pbkdf2Hash{}, fmt.Errorf("%w: Django pbkdf2_sha256 hash: %v", ErrMalformed, err)
	}
	if len(key) != prfSHA256.size() {
		return pbkdf2Hash{}, fmt.Errorf("%w: Django pbkdf2_sha256 hash must be %d bytes, got %d", ErrMalformed, prfSHA256.size(), len(key))
	}
	return newPBKDF2Hash(prfSHA256, int(iterations), []byte(fields[2]), key)
}

// keycloakCredential is a Keycloak CredentialRepresentation, as found in a
// realm export's users[].credentials[]. Fields not named here (id,
// userLabel, createdDate, priority, …) are ignored.
type keycloakCredential struct {
	Type string `json:"type"`
	// Keycloak 7+: two JSON documents inside strings.
	CredentialData string `json:"credentialData"`
	SecretData     string `json:"secretData"`
	// Older exports: the same facts at top level.
	HashedSaltedValue string `json:"hashedSaltedValue"`
	Salt              string `json:"salt"`
	HashIterations    int    `json:"hashIterations"`
	Algorithm         string `json:"algorithm"`
	// Value is a plain-text password in Keycloak's representation (for
	// hand-written import files); it is refused.
	Value string `json:"value"`
}

// keycloakCredentialData is the document in credentialData.
type keycloakCredentialData struct {
	HashIterations int    `json:"hashIterations"`
	Algorithm      string `json:"algorithm"`
}

// keycloakSecretData is the document in secretData.
type keycloakSecretData struct {
	Value string `json:"value"`
	Salt  string `json:"salt"`
}

// Keycloak converts a Keycloak password credential (one element of a realm
// export's users[].credentials[], either form) into the stored form. Keycloak
// computes PBKDF2-HMAC over the UTF-8 password with the decoded salt and the
// stored value's length as key length, so that is what is stored. Only the
// pbkdf2-sha256 and pbkdf2-sha512 algorithms are accepted. Every failure
// wraps ErrMalformed.
func Keycloak(credential []byte) (string, error) {
	var c keycloakCredential
	if err := strictJSON(credential, &c); err != nil {
		return "", fmt.Errorf("%w: Keycloak credential: %v", ErrMalformed, err)
	}
	if c.Type != "password" {
		return "", fmt.Errorf("%w: Keycloak credential type %q, want \"password\"", ErrMalformed, c.Type)
	}
	if c.Value != "" {
		return "", fmt.Errorf("%w: Keycloak credential carries a plain-text value, not a hash", ErrMalformed)
	}
	algorithm, iterations, value, salt := c.Algorithm, c.HashIterations, c.HashedSaltedValue, c.Salt
	if c.CredentialData != "" || c.SecretData != "" {
		if value != "" || salt != "" || iterations != 0 || algorithm != "" {
			return "", fmt.Errorf("%w: Keycloak credential mixes credentialData/secretData with top-level hash fields", ErrMalformed)
		}
		var data keycloakCredentialData
		if err := strictJSON([]byte(c.CredentialData), &data); err != nil {
			return "", fmt.Errorf("%w: Keycloak credentialData: %v", ErrMalformed, err)
		}
		var secret keycloakSecretData
		if err := strictJSON([]byte(c.SecretData), &secret); err != nil {
			return "", fmt.Errorf("%w: Keycloak secretData: %v", ErrMalformed, err)
		}
		algorithm, iterations, value, salt = data.Algorithm, data.HashIterations, secret.Value, secret.Salt
	}
	var prf pbkdf2PRF
	switch algorithm {
	case "pbkdf2-sha256":
		prf = prfSHA256
	case "pbkdf2-sha512":
		prf = prfSHA512
	default:
		return "", fmt.Errorf("%w: Keycloak algorithm %q (supported: pbkdf2-sha256, pbkdf2-sha512)", ErrMalformed, algorithm)
	}
	key, err := decodeBase64(value)
	if err != nil {
		return "", fmt.Errorf("%w: Keycloak hash value: %v", ErrMalformed, err)
	}
	saltBytes, err := decodeBase64(salt)
	if err != nil {
		return "", fmt.Errorf("%w: Keycloak salt: %v", ErrMalformed, err)
	}
	p, err := newPBKDF2Hash(prf, iterations, saltBytes, key)
	if err != nil {
		return "", err
	}
	return p.encode(), nil
}

// strictJSON decodes exactly one JSON value from b into v. Unknown fields
// are ignored: Keycloak's documents carry more than the hash.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

// decodeBase64 decodes standard base64, padded as Keycloak writes it or
// unpadded.
func decodeBase64(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") || len(s)%4 == 0 {
		return base64.StdEncoding.Strict().DecodeString(s)
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}
