package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokenserver/tokenserver/store"
)

// revokeAttempts bounds the optimistic-locking retries of Revoke. Every
// failed attempt means another writer committed, so N concurrent writers of
// one key finish within N attempts.
const revokeAttempts = 64

// revocationKey is <prefix>rev:<kind>:<value>.
func (s *Store) revocationKey(kind store.RevocationKind, value string) string {
	return s.prefix + "rev:" + string(kind) + ":" + value
}

// Revoke stores r under its key until r.ExpiresAt (PEXPIREAT, so Redis
// forgets it by itself). An existing entry for the same kind and value is
// merged: the later NotBefore and the later ExpiresAt win, and the earlier
// CreatedAt is kept. The read-merge-write runs under WATCH, so a concurrent
// Revoke with an earlier NotBefore can never overwrite a later one.
// Errors: invalid r; store.ErrUnavailable.
func (s *Store) Revoke(ctx context.Context, r store.Revocation) error {
	if err := validRevocation(r); err != nil {
		return fmt.Errorf("redis: revoke: %w", err)
	}
	key := s.revocationKey(r.Kind, r.Value)
	for range revokeAttempts {
		err := s.client.Watch(ctx, func(tx *goredis.Tx) error {
			merged := normalize(r)
			old, err := tx.Get(ctx, key).Bytes()
			switch {
			case errors.Is(err, goredis.Nil):
			case err != nil:
				return err
			default:
				cur, err := decodeEntry(old)
				if err != nil {
					return fmt.Errorf("corrupt entry %q: %w", key, err)
				}
				merged = merge(cur, merged)
				if merged == normalize(cur) {
					return nil // nothing newer to record
				}
			}
			body, err := encodeEntry(merged)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				p.Set(ctx, key, body, 0)
				p.PExpireAt(ctx, key, merged.ExpiresAt)
				return nil
			})
			return err
		}, key)
		if !errors.Is(err, goredis.TxFailedErr) {
			return wrap("revoke", err)
		}
	}
	return fmt.Errorf("redis: revoke: %d concurrent updates of %s: %w", revokeAttempts, key, store.ErrConflict)
}

// validRevocation rejects entries that could never match or never expire.
func validRevocation(r store.Revocation) error {
	switch r.Kind {
	case store.RevokeJTI, store.RevokeSID, store.RevokeSub, store.RevokeKID:
	default:
		return fmt.Errorf("unknown revocation kind %q", r.Kind)
	}
	if r.Value == "" {
		return errors.New("empty revocation value")
	}
	if r.ExpiresAt.IsZero() {
		return errors.New("revocation without ExpiresAt")
	}
	return nil
}

// normalize makes times comparable with == after a JSON round trip: UTC,
// no monotonic reading.
func normalize(r store.Revocation) store.Revocation {
	utc := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Time{}
		}
		return t.UTC().Round(0)
	}
	r.NotBefore, r.ExpiresAt, r.CreatedAt = utc(r.NotBefore), utc(r.ExpiresAt), utc(r.CreatedAt)
	return r
}

// merge combines two entries of the same kind and value (normalized).
func merge(cur, next store.Revocation) store.Revocation {
	return store.MergeRevocations(normalize(cur), next)
}

// IsRevoked fetches the cache's marker and the jti, sid, sub and kid
// entries q names in one pipelined round trip (plain GETs, so it works
// across cluster slots) and reports whether one of the entries is unexpired
// at now and matches: any jti, sid or kid entry, or a sub entry with
// NotBefore at or after the token's iat, compared in whole seconds as JWT
// NumericDate is. Unless the marker says the cache is complete (see
// store.RevocationSeeder) it answers nothing: an emptied cache would say
// "not revoked". Errors: store.ErrCacheIncomplete; store.ErrUnavailable; a
// corrupt entry.
func (s *Store) IsRevoked(ctx context.Context, q store.RevocationQuery, now time.Time) (bool, error) {
	var keys []string
	var kinds []store.RevocationKind
	for _, c := range []struct {
		kind  store.RevocationKind
		value string
	}{{store.RevokeJTI, q.JTI}, {store.RevokeSID, q.SID}, {store.RevokeSub, q.Sub}, {store.RevokeKID, q.KID}} {
		if c.value != "" {
			keys = append(keys, s.revocationKey(c.kind, c.value))
			kinds = append(kinds, c.kind)
		}
	}
	if len(keys) == 0 {
		return false, nil
	}
	var marker *goredis.StringCmd
	cmds := make([]*goredis.StringCmd, len(keys))
	// Pipelined returns the first command error, which is goredis.Nil for
	// every absent key; each command's own error is checked below.
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		marker = p.Get(ctx, s.markerKey())
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if _, err := s.checkMarker(marker); err != nil {
		return false, wrap("is revoked", err)
	}
	for i, cmd := range cmds {
		body, err := cmd.Bytes()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			return false, wrap("is revoked", err)
		}
		r, err := decodeEntry(body)
		if err != nil {
			return false, fmt.Errorf("redis: is revoked: corrupt entry %q: %w", keys[i], err)
		}
		r.Kind = kinds[i] // the key says what it matches
		if r.Matches(q, now) {
			return true, nil
		}
	}
	return false, nil
}

// scanBatch is the COUNT hint of SCAN and the GET pipeline length in Active.
const scanBatch = 500

// Active returns every entry unexpired at now, ordered by kind and value. It
// SCANs <prefix>rev:* (on every primary of a cluster) and GETs the keys in
// pipelined batches; it is a snapshot for resource servers (verifier
// FeedSource), not an atomic one. It reads the cache's marker before and
// after the scan and fails unless both say ready with the same generation,
// so it never passes off an emptied or half-reseeded cache as the whole
// denylist. Errors: store.ErrCacheIncomplete; store.ErrUnavailable; a
// corrupt entry.
func (s *Store) Active(ctx context.Context, now time.Time) ([]store.Revocation, error) {
	before, err := s.checkMarker(s.client.Get(ctx, s.markerKey()))
	if err != nil {
		return nil, wrap("active", err)
	}
	out, err := s.scanActive(ctx, now)
	if err != nil {
		return nil, wrap("active", err)
	}
	after, err := s.checkMarker(s.client.Get(ctx, s.markerKey()))
	if err != nil {
		return nil, wrap("active", err)
	}
	if after != before {
		return nil, fmt.Errorf("redis: active: %w: the cache lost its data during the scan", store.ErrCacheIncomplete)
	}
	return out, nil
}

// scanActive collects the entries of Active.
func (s *Store) scanActive(ctx context.Context, now time.Time) ([]store.Revocation, error) {
	pattern := escapeGlob(s.prefix) + "rev:*"
	var (
		mu  sync.Mutex
		out []store.Revocation
	)
	collect := func(ctx context.Context, node goredis.Cmdable) error {
		found, err := activeOnNode(ctx, node, pattern, now)
		mu.Lock()
		out = append(out, found...)
		mu.Unlock()
		return err
	}
	var err error
	if cluster, ok := s.client.(*goredis.ClusterClient); ok {
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
			return collect(ctx, node)
		})
	} else {
		err = collect(ctx, s.client)
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Revocation) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Value, b.Value))
	})
	// SCAN may return a key more than once.
	return slices.CompactFunc(out, func(a, b store.Revocation) bool {
		return a.Kind == b.Kind && a.Value == b.Value
	}), nil
}

// activeOnNode scans one server for the entries matching pattern.
func activeOnNode(ctx context.Context, node goredis.Cmdable, pattern string, now time.Time) ([]store.Revocation, error) {
	var out []store.Revocation
	var cursor uint64
	for {
		keys, next, err := node.Scan(ctx, cursor, pattern, scanBatch).Result()
		if err != nil {
			return out, err
		}
		if len(keys) > 0 {
			cmds := make([]*goredis.StringCmd, len(keys))
			_, _ = node.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for i, k := range keys {
					cmds[i] = p.Get(ctx, k)
				}
				return nil
			})
			for i, cmd := range cmds {
				body, err := cmd.Bytes()
				if errors.Is(err, goredis.Nil) {
					continue // expired between SCAN and GET
				}
				if err != nil {
					return out, err
				}
				r, err := decodeEntry(body)
				if err != nil {
					return out, fmt.Errorf("corrupt entry %q: %w", keys[i], err)
				}
				if r.ExpiresAt.After(now) {
					out = append(out, r)
				}
			}
		}
		if next == 0 {
			return out, nil
		}
		cursor = next
	}
}

// escapeGlob escapes the characters SCAN MATCH treats specially, so a prefix
// such as "a*b:" matches only itself.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
