package dpop

import (
	"crypto"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// referenceParse is Parse written the generic way: jwx parses the compact
// JWS and the jwk, verifies the signature and computes the thumbprint;
// encoding/json decodes header and claims into maps. On top sit the
// policies Parse adds to RFC 7515 (strict base64url without line breaks,
// exact member names, key sizes), written out again independently.
func referenceParse(proof string) (*Proof, bool) {
	if len(proof) > MaxProofSize || strings.ContainsAny(proof, "\r\n") || strings.Count(proof, ".") != 2 {
		return nil, false
	}
	parts := strings.Split(proof, ".")
	for _, s := range parts {
		if _, err := b64.DecodeString(s); err != nil { // jwx also takes padded and non-canonical base64
			return nil, false
		}
	}
	hb, _ := b64.DecodeString(parts[0])
	var hdr map[string]json.RawMessage
	if json.Unmarshal(hb, &hdr) != nil || hdr == nil {
		return nil, false
	}
	if _, ok := hdr["crit"]; ok {
		return nil, false
	}
	if _, ok := hdr["b64"]; ok {
		return nil, false
	}
	var typ, alg string
	if json.Unmarshal(hdr["typ"], &typ) != nil || !strings.EqualFold(typ, ProofType) {
		return nil, false
	}
	if json.Unmarshal(hdr["alg"], &alg) != nil {
		return nil, false
	}
	if _, ok := supported(alg); !ok {
		return nil, false
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(hdr["jwk"], &members) != nil || members == nil {
		return nil, false
	}
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			return nil, false
		}
	}
	str := func(name string) string {
		var s string
		_ = json.Unmarshal(members[name], &s)
		return s
	}
	kty, crv := str("kty"), str("crv")
	for _, name := range []string{"x", "y", "n", "e"} {
		if v, ok := members[name]; ok && string(v) != "null" {
			if _, err := b64.DecodeString(str(name)); err != nil { // jwx is lenient here too
				return nil, false
			}
		}
	}
	key, err := jwk.ParseKey(hdr["jwk"])
	if err != nil {
		return nil, false
	}
	var pub any
	if err := jwk.Export(key, &pub); err != nil {
		return nil, false
	}
	switch alg {
	case "ES256":
		x, _ := b64.DecodeString(str("x"))
		y, _ := b64.DecodeString(str("y"))
		if kty != "EC" || crv != "P-256" || len(x) != 32 || len(y) != 32 {
			return nil, false
		}
	case "EdDSA":
		if kty != "OKP" || crv != "Ed25519" {
			return nil, false
		}
	default:
		n, _ := b64.DecodeString(str("n"))
		e, _ := b64.DecodeString(str("e"))
		if kty != "RSA" || len(n) == 0 || len(e) == 0 || n[0] == 0 || e[0] == 0 ||
			len(n)*8 < minRSABits || len(n)*8 > maxRSABits || len(e) > 4 {
			return nil, false
		}
		exp := 0
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		if exp < 3 || exp%2 == 0 {
			return nil, false
		}
	}
	jalg, _ := jwa.LookupSignatureAlgorithm(alg)
	// VerifyCompactFast signs over the parts as sent (RFC 7515 §5.2);
	// jws.Verify re-encodes the header and fails on spaces in it.
	payload, err := jws.VerifyCompactFast(pub, []byte(proof), jalg)
	if err != nil {
		return nil, false
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, false
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(payload, &claims) != nil || claims == nil {
		return nil, false
	}
	out := &Proof{Algorithm: alg, JKT: b64.EncodeToString(tp)}
	for name, dst := range map[string]*string{"jti": &out.ID, "htm": &out.Method, "htu": &out.URL,
		"ath": &out.AccessTokenHash, "nonce": &out.Nonce} {
		if v, ok := claims[name]; ok && string(v) != "null" && json.Unmarshal(v, dst) != nil {
			return nil, false
		}
	}
	if out.ID == "" || out.Method == "" || out.URL == "" || len(out.ID) > MaxJTILen || len(out.Nonce) > MaxNonceLen {
		return nil, false
	}
	var iat float64
	if v, ok := claims["iat"]; !ok || string(v) == "null" || json.Unmarshal(v, &iat) != nil || math.IsNaN(iat) || iat < 0 || iat > 1<<40 {
		return nil, false
	}
	out.IssuedAt = time.Unix(int64(iat), 0)
	return out, true
}

// signedJSON makes a proof from raw header and claims JSON, so spelling
// (escapes, spaces, duplicates) is ours to choose.
func signedJSON(t *testing.T, hdr, claims string, alg string, key crypto.Signer) string {
	t.Helper()
	input := b64.EncodeToString([]byte(hdr)) + "." + b64.EncodeToString([]byte(claims))
	jalg, _ := jwa.LookupSignatureAlgorithm(alg)
	signer, err := jws.SignerFor(jalg)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign(key, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// TestParseMatchesReference: on valid proofs of every algorithm, on
// proofs re-signed after changing their JSON, and on random corruptions of
// each, Parse accepts exactly what the jwx-based reference accepts, with
// the same result.
func TestParseMatchesReference(t *testing.T) {
	ec, ed, rs := newECKey(t), newEdKey(t), newRSAKey(t)
	keys := []struct {
		alg string
		key crypto.Signer
	}{{"ES256", ec}, {"EdDSA", ed}, {"PS256", rs}, {"RS256", rs}}
	var proofs []string
	for _, k := range keys {
		proofs = append(proofs,
			mustProof(t, k.key, k.alg, ProofClaims{}),
			mustProof(t, k.key, k.alg, ProofClaims{Nonce: "n-1", AccessToken: "tok"}))
		jwkJSON, _, err := publicJWK(k.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		j := string(jwkJSON.canonical)
		hdr := `{"typ":"dpop+jwt","alg":"` + k.alg + `","jwk":` + j + `}`
		cl := `{"jti":"j1","htm":"POST","htu":"` + testURL + `","iat":1700000000`
		for _, h := range []string{
			hdr,
			` { "typ" : "DPoP+JWT" , "alg":"` + k.alg + `", "jwk": ` + j + ` } `,
			`{"\u0074yp":"dpop+jwt","alg":"` + k.alg + `","jwk":` + j + `}`,
			`{"Typ":"dpop+jwt","alg":"` + k.alg + `","jwk":` + j + `}`,
			`{"typ":"jwt","alg":"` + k.alg + `","jwk":` + j + `}`,
			`{"typ":null,"alg":"` + k.alg + `","jwk":` + j + `}`,
			`{"typ":"dpop+jwt","alg":"` + k.alg + `","jwk":` + j + `,"crit":["exp"]}`,
			`{"typ":"dpop+jwt","alg":"` + k.alg + `","jwk":` + j + `,"b64":false}`,
			`{"typ":"dpop+jwt","alg":"` + k.alg + `","jwk":` + j[:len(j)-1] + `,"d":"AAAA"}}`,
			`{"typ":"dpop+jwt","alg":"` + k.alg + `","jwk":` + j[:len(j)-1] + `,"kid":"k","use":"sig","nested":{"a":[1,"}"]}}}`,
			`{"typ":"dpop+jwt","alg":"` + k.alg + `","jwk":"` + strings.ReplaceAll(j, `"`, `\"`) + `"}`,
			`{"typ":"dpop+jwt","alg":"` + k.alg + `"}`,
			`{"typ":"dpop+jwt","alg":"` + k.alg + `","jwk":null}`,
			`["typ"]`, `null`, `{}`,
		} {
			proofs = append(proofs, signedJSON(t, h, cl+`}`, k.alg, k.key))
		}
		for _, c := range []string{
			cl + `,"ath":"x","nonce":"\u00e9t\u00e9"}`,
			cl + `.75,"extra":{"x":[true,false,null]}}`,
			`{"jti":"j1","htm":"POST","htu":"` + testURL + `","iat":"1700000000"}`,
			`{"jti":"j1","htm":"POST","htu":"` + testURL + `","iat":null}`,
			`{"jti":"j1","htm":"POST","htu":"` + testURL + `","iat":-1}`,
			`{"jti":"j1","htm":"POST","htu":"` + testURL + `","iat":1e300}`,
			`{"jti":"j1","htm":"POST","htu":"` + testURL + `"}`,
			`{"jti":"","htm":"POST","htu":"` + testURL + `","iat":1}`,
			`{"jti":7,"htm":"POST","htu":"` + testURL + `","iat":1}`,
			`{"JTI":"j1","htm":"POST","htu":"` + testURL + `","iat":1}`,
			cl + `,"ath":12}`, cl + `,"nonce":null}`, cl + `,"jti":"dup-last"}`,
			cl + `,"nonce":"` + strings.Repeat("n", MaxNonceLen+1) + `"}`,
			`{"jti":"\ud83d\ude00 \"q\"","htm":"GET","htu":"https://x.example/a b","iat":1}`,
			`[]`, `"s"`, `{`,
		} {
			proofs = append(proofs, signedJSON(t, hdr, c, k.alg, k.key))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n"
	n := len(proofs)
	for _, p := range proofs[:n] {
		for range 8 {
			b := []byte(p)
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
			proofs = append(proofs, string(b))
		}
		proofs = append(proofs, p[:len(p)-1], p+"A", p+".")
	}
	accepted := 0
	for _, p := range proofs {
		got, err := Parse(p)
		want, ok := referenceParse(p)
		switch {
		case (err == nil) != ok:
			t.Errorf("Parse error %v, reference accepts: %v, for\n%s", err, ok, p)
		case ok && *got != *want:
			t.Errorf("Parse = %+v\nreference %+v\nfor %s", *got, *want, p)
		case ok:
			accepted++
		}
	}
	if accepted < 4*(2+5) {
		t.Errorf("only %d of %d proofs accepted; the valid ones should be", accepted, len(proofs))
	}
	t.Logf("%d proofs, %d accepted by both", len(proofs), accepted)
}
