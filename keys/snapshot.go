package keys

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/tokenserver/tokenserver/store"
)

// entry is one key of the set: its stored record and the opened key.
type entry struct {
	meta      store.SigningKey // Sealed is dropped once opened
	sealedSum [sha256.Size]byte
	key       *Key
	publicJWK []byte
}

// published reports whether the key is in the JWKS and verifies tokens at now.
func (e *entry) published(now time.Time) bool {
	return e.meta.State != store.KeyRetired || e.meta.RemoveAt.IsZero() || now.Before(e.meta.RemoveAt)
}

// snapshot is the immutable live state. A new one replaces it whenever the
// key set changes; readers load it with one atomic read and take no lock.
type snapshot struct {
	fingerprint [sha256.Size]byte
	entries     []*entry
	signer      *signingKey
	verify      map[string]*verifyKey
	jwks        []byte
	etag        string
	// refreshAt is the earliest RemoveAt still ahead at build time: once the
	// clock passes it the JWKS must be rebuilt without that key. Zero if none.
	refreshAt time.Time
}

// stale reports whether a retired key has reached its RemoveAt since the
// snapshot was built.
func (s *snapshot) stale(now time.Time) bool {
	return !s.refreshAt.IsZero() && !now.Before(s.refreshAt)
}

// fingerprint identifies a stored set independently of its order, so Reload
// can skip opening keys and rebuilding when nothing changed.
func fingerprint(set []store.SigningKey) [sha256.Size]byte {
	sorted := slices.Clone(set)
	slices.SortFunc(sorted, func(a, b store.SigningKey) int { return cmp.Compare(a.ID, b.ID) })
	h := sha256.New()
	var buf [8]byte
	writeString := func(s string) {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	writeTime := func(t time.Time) {
		binary.BigEndian.PutUint64(buf[:], uint64(t.UnixNano()))
		if t.IsZero() {
			clear(buf[:])
		}
		h.Write(buf[:])
	}
	for _, k := range sorted {
		writeString(k.ID)
		writeString(k.Algorithm)
		writeString(string(k.State))
		sum := sha256.Sum256(k.Sealed)
		h.Write(sum[:])
		writeTime(k.CreatedAt)
		writeTime(k.ActivatesAt)
		writeTime(k.RetiredAt)
		writeTime(k.RemoveAt)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// openEntries opens every stored key, reusing keys already opened by prev
// when their sealed bytes are unchanged. Any key that does not open fails
// the whole set: serving a partial set would make tokens fail at random.
func openEntries(set []store.SigningKey, sealer *Sealer, prev *snapshot) ([]*entry, error) {
	known := map[string]*entry{}
	if prev != nil {
		for _, e := range prev.entries {
			known[e.meta.ID] = e
		}
	}
	out := make([]*entry, 0, len(set))
	for _, k := range set {
		sum := sha256.Sum256(k.Sealed)
		meta := k
		meta.Sealed = nil
		meta.PublicJWK = nil
		if old, ok := known[k.ID]; ok && old.sealedSum == sum && old.meta.Algorithm == k.Algorithm {
			out = append(out, &entry{meta: meta, sealedSum: sum, key: old.key, publicJWK: old.publicJWK})
			continue
		}
		if err := checkAlgorithm(k.Algorithm); err != nil {
			return nil, fmt.Errorf("keys: stored key %s: %w", k.ID, err)
		}
		der, err := sealer.Open(k.ID, k.Sealed)
		if err != nil {
			return nil, err
		}
		key, err := parsePKCS8(der, k.ID, k.Algorithm, k.CreatedAt)
		clear(der)
		if err != nil {
			return nil, err
		}
		pub, err := key.PublicJSON()
		if err != nil {
			return nil, err
		}
		out = append(out, &entry{meta: meta, sealedSum: sum, key: key, publicJWK: pub})
	}
	return out, nil
}

// stateRank orders the JWKS: the signing key first, then keys about to sign,
// then keys on their way out.
func stateRank(s store.KeyState) int {
	switch s {
	case store.KeyCurrent:
		return 0
	case store.KeyNext:
		return 1
	default:
		return 2
	}
}

// buildSnapshot derives the live state from a set at now. The JWKS depends
// only on the set and the clock, never on load order, so every instance
// serves byte-identical documents (and ETags) for the same set.
func buildSnapshot(fp [sha256.Size]byte, entries []*entry, signAlg string, now time.Time) (*snapshot, error) {
	s := &snapshot{fingerprint: fp, entries: entries, verify: make(map[string]*verifyKey, len(entries))}
	var pub []*entry
	for _, e := range entries {
		switch e.meta.State {
		case store.KeyNext, store.KeyCurrent, store.KeyRetired:
		default:
			return nil, fmt.Errorf("keys: key %s has unknown state %q", e.meta.ID, e.meta.State)
		}
		if _, dup := s.verify[e.meta.ID]; dup {
			return nil, fmt.Errorf("keys: key id %s appears twice in the set", e.meta.ID)
		}
		if !e.published(now) {
			continue
		}
		removeAt := time.Time{}
		if e.meta.State == store.KeyRetired {
			removeAt = e.meta.RemoveAt
			if !removeAt.IsZero() && (s.refreshAt.IsZero() || removeAt.Before(s.refreshAt)) {
				s.refreshAt = removeAt
			}
		}
		vk, err := newVerifyKey(e.key, removeAt)
		if err != nil {
			return nil, err
		}
		s.verify[e.meta.ID] = vk
		pub = append(pub, e)
		if e.meta.State == store.KeyCurrent && e.meta.Algorithm == signAlg {
			if s.signer != nil {
				return nil, fmt.Errorf("keys: more than one current %s key (%s and %s)", signAlg, s.signer.kid, e.meta.ID)
			}
			if s.signer, err = newSigningKey(e.key); err != nil {
				return nil, err
			}
		}
	}
	slices.SortFunc(pub, func(a, b *entry) int {
		return cmp.Or(
			cmp.Compare(stateRank(a.meta.State), stateRank(b.meta.State)),
			cmp.Compare(a.meta.Algorithm, b.meta.Algorithm),
			b.meta.CreatedAt.Compare(a.meta.CreatedAt),
			cmp.Compare(a.meta.ID, b.meta.ID),
		)
	})
	// RFC 7517 §5: {"keys":[JWK, ...]}; only public members (each JWK was
	// made from the public half of the key).
	var buf bytes.Buffer
	buf.WriteString(`{"keys":[`)
	for i, e := range pub {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(e.publicJWK)
	}
	buf.WriteString("]}")
	s.jwks = buf.Bytes()
	sum := sha256.Sum256(s.jwks)
	// A strong validator (RFC 9110 §8.8.3): equal bytes, equal tag.
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
	return s, nil
}
