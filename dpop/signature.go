package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
)

// verifySignature checks a JWS signature over input (RFC 7518 §3) with
// crypto/* directly: jwx's generic dispatch allocated on every proof. key
// is what parseJWK built for alg, so the type assertions hold.
func verifySignature(alg string, key crypto.PublicKey, input, sig []byte) bool {
	switch alg {
	case "ES256":
		// RFC 7518 §3.4: R || S, 32 octets each, not ASN.1.
		if len(sig) != 64 {
			return false
		}
		digest := sha256.Sum256(input)
		var der [72]byte
		return ecdsa.VerifyASN1(key.(*ecdsa.PublicKey), digest[:], ecdsaDER(der[:0], sig[:32], sig[32:]))
	case "EdDSA":
		return ed25519.Verify(key.(ed25519.PublicKey), input, sig)
	case "RS256":
		digest := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(key.(*rsa.PublicKey), crypto.SHA256, digest[:], sig) == nil
	case "PS256":
		// RFC 7518 §3.5: the salt is as long as the hash.
		digest := sha256.Sum256(input)
		opts := rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		return rsa.VerifyPSS(key.(*rsa.PublicKey), crypto.SHA256, digest[:], sig, &opts) == nil
	}
	return false
}

// ecdsaDER appends the DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs) of
// the big-endian r and s, each at most 32 octets: at most 72 octets, so
// every length fits one octet.
func ecdsaDER(b, r, s []byte) []byte {
	body := func(v []byte) ([]byte, int) {
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		n := len(v)
		if n == 0 || v[0]&0x80 != 0 {
			n++ // a leading zero keeps it non-negative (or encodes 0)
		}
		return v, n
	}
	rv, rn := body(r)
	sv, sn := body(s)
	b = append(b, 0x30, byte(2+rn+2+sn))
	for _, x := range [...]struct {
		v []byte
		n int
	}{{rv, rn}, {sv, sn}} {
		b = append(b, 0x02, byte(x.n))
		if x.n > len(x.v) {
			b = append(b, 0)
		}
		b = append(b, x.v...)
	}
	return b
}
