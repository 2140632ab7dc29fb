// Package store holds the storage contracts of tokenserver: the types it
// persists, one small interface per capability, and the sentinel errors every
// backend returns. Backends live in subpackages (memory, postgres, redis) and
// prove themselves against the conformance suites in store/storetest.
//
// Every backend wraps its errors with %w, so callers compare with errors.Is,
// never with ==. A backend that cannot reach its server returns an error that
// wraps ErrUnavailable, which the HTTP layer answers with 503.
//
// This package imports only the standard library.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them; compare with errors.Is.
var (
	// ErrNotFound: the record does not exist (or, for Rotate, does not belong
	// to the presenting client, which must look the same to the caller).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a record with the same unique key exists, or a conditional
	// update lost its condition (see UserStore.UpgradePasswordHash).
	ErrConflict = errors.New("store: conflict")
	// ErrExpired: the refresh token is past its idle expiry or its family is
	// past its absolute expiry.
	ErrExpired = errors.New("store: expired")
	// ErrRevoked: the refresh-token family has been revoked (or, for
	// Rotate, its user is disabled or gone).
	ErrRevoked = errors.New("store: revoked")
	// ErrReused: an already-consumed refresh token was presented outside the
	// reuse leeway. The family has been revoked as a side effect (RFC 9700
	// §4.14.2).
	ErrReused = errors.New("store: refresh token reused")
	// ErrScope: a Rotate asked for a scope beyond the family's scope
	// (RFC 6749 §6). Nothing changed.
	ErrScope = errors.New("store: scope exceeds the family's scope")
	// ErrUnavailable: the backing server could not be reached or timed out.
	ErrUnavailable = errors.New("store: unavailable")
)

// Pinger is implemented by stores that depend on a server. Ping returns nil
// when the server answers; otherwise an error wrapping ErrUnavailable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ---------------------------------------------------------------- users

// User is a resource owner who logs in with the password grant.
type User struct {
	// ID is a stable UUID; it is the access token's `sub`. Never reused.
	ID string
	// Username is unique, compared case-insensitively (stored as given).
	Username string
	// PasswordHash is an argon2id PHC string or an imported bcrypt hash;
	// see tokenserver/password for the formats.
	PasswordHash string
	// Disabled users cannot log in or refresh.
	Disabled          bool
	CreatedAt         time.Time
	UpdatedAt         time.Time
	PasswordChangedAt time.Time
}

// UserStore persists users.
type UserStore interface {
	// CreateUser stores u. ID must be set by the caller. Returns ErrConflict
	// if the ID or the username (case-insensitively) is taken.
	CreateUser(ctx context.Context, u User) error
	// UserByName returns the user whose username equals name
	// case-insensitively, or ErrNotFound.
	UserByName(ctx context.Context, name string) (User, error)
	// UserByID returns the user with that ID, or ErrNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	// ListUsers returns all users ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// UpgradePasswordHash replaces the hash with newHash only if the stored
	// hash still equals oldHash (compare-and-swap), so a transparent upgrade
	// at login never overwrites a concurrent password change. It does not
	// touch PasswordChangedAt. Returns ErrNotFound or ErrConflict.
	UpgradePasswordHash(ctx context.Context, id, oldHash, newHash string) error
	// SetPassword stores a new hash and sets PasswordChangedAt = UpdatedAt =
	// at. Returns ErrNotFound.
	SetPassword(ctx context.Context, id, hash string, at time.Time) error
	// SetDisabled sets the disabled flag and UpdatedAt = at. Returns
	// ErrNotFound.
	SetDisabled(ctx context.Context, id string, disabled bool, at time.Time) error
	// DeleteUser removes the user and every refresh-token family of the
	// user, atomically. Returns ErrNotFound.
	DeleteUser(ctx context.Context, id string) error
}

// ---------------------------------------------------------------- clients

// Client is an OAuth 2.0 client registration (RFC 6749 §2).
type Client struct {
	ID string
	// SecretHash is the hash of the client secret (format owned by
	// tokenserver.HashClientSecret); empty for a public client.
	SecretHash string
	// Grants the client may use, e.g. "password", "refresh_token".
	Grants []string
	// Scopes the client may request. A request without scope gets all of them.
	Scopes []string
	// Audience for access tokens issued to this client; empty means the
	// server's default audience.
	Audience []string
	// Per-client lifetimes; zero means the server default.
	AccessTokenTTL     time.Duration
	RefreshIdleTTL     time.Duration
	RefreshAbsoluteTTL time.Duration
	CreatedAt          time.Time
}

// Public reports whether the client authenticates with its client_id only.
func (c Client) Public() bool { return c.SecretHash == "" }

// ClientStore persists client registrations.
type ClientStore interface {
	// CreateClient stores c. Returns ErrConflict if the ID is taken.
	CreateClient(ctx context.Context, c Client) error
	// ClientByID returns the client or ErrNotFound.
	ClientByID(ctx context.Context, id string) (Client, error)
	// ListClients returns all clients ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// DeleteClient removes the client and its refresh-token families,
	// atomically. Returns ErrNotFound.
	DeleteClient(ctx context.Context, id string) error
}

// ---------------------------------------------------------------- refresh tokens

// RefreshFamily is one login session: the chain of refresh tokens rotated
// from one password grant. Its ID is the access token's `sid`.
type RefreshFamily struct {
	ID       string
	ClientID string
	UserID   string
	Username string
	// Scope is the space-separated scope granted at login. Every refresh
	// token of the family carries exactly this scope (RFC 6749 §6).
	Scope     string
	CreatedAt time.Time
	// ExpiresAt is the absolute session lifetime; no token of the family is
	// valid after it.
	ExpiresAt time.Time
	// RevokedAt is zero unless the family is revoked.
	RevokedAt time.Time
}

// RefreshToken is one opaque refresh token, stored only as a hash.
type RefreshToken struct {
	// Hash is the lowercase hex SHA-256 of the token string.
	Hash     string
	FamilyID string
	IssuedAt time.Time
	// IdleExpiresAt is when the token expires if unused. Stores clamp it to
	// the family's ExpiresAt.
	IdleExpiresAt time.Time
	// ConsumedAt is zero until the token is rotated.
	ConsumedAt time.Time
	// ReplacedBy is the hash of the token that replaced this one.
	ReplacedBy string
}

// RotateRequest asks to consume one refresh token and store its successor.
type RotateRequest struct {
	// OldHash identifies the presented token.
	OldHash string
	// ClientID is the authenticated client; a token of another client is
	// ErrNotFound and nothing changes.
	ClientID string
	// New is the successor. Hash, IssuedAt and IdleExpiresAt are set by the
	// caller; the store sets FamilyID and clamps IdleExpiresAt.
	New RefreshToken
	Now time.Time
	// Scope is the requested narrowing (RFC 6749 §6: the refresh request's
	// scope MUST NOT include any scope not originally granted). nil means
	// the request had no scope parameter; otherwise every element must be a
	// token of the family's Scope, else ErrScope and nothing changes.
	Scope []string
	// ReuseLeeway lets a client retry a lost response: a token consumed at
	// most this long ago may be presented again, provided its successor has
	// not been used yet; the store then consumes that unused successor too,
	// so the family still has exactly one live token (each retry within the
	// window replaces the previous successor). Zero disables it.
	ReuseLeeway time.Duration
}

// RefreshTokenStore persists refresh-token families.
type RefreshTokenStore interface {
	// CreateFamily stores f and its first token t atomically. Returns
	// ErrConflict if the family ID or token hash exists.
	CreateFamily(ctx context.Context, f RefreshFamily, t RefreshToken) error
	// Rotate atomically checks and consumes req.OldHash and stores req.New
	// in the same family, so a refresh needs no other call: under any
	// number of concurrent calls with one OldHash exactly one succeeds
	// (outside the leeway); the others get ErrReused, or ErrRevoked once a
	// loser's reuse has revoked the family. A token is expired at
	// IdleExpiresAt / ExpiresAt (valid strictly before). It returns the
	// family and:
	//   nil          - rotated;
	//   ErrNotFound  - unknown hash or another client's token; nothing changed;
	//   ErrScope     - req.Scope is not within the family's scope; nothing
	//                  changed;
	//   ErrRevoked   - the family was revoked, or its user is disabled or
	//                  gone; nothing changed;
	//   ErrExpired   - idle or absolute expiry passed; nothing changed;
	//   ErrReused    - the token was already consumed (outside the leeway):
	//                  the family is now revoked (RevokedAt = req.Now) by a
	//                  single update, and the returned family says which.
	// Checks happen in that order. The family is returned with every error
	// after ErrNotFound.
	Rotate(ctx context.Context, req RotateRequest) (RefreshFamily, error)
	// Lookup returns a token and its family by hash, or ErrNotFound. It
	// changes nothing (used by introspection and revocation).
	Lookup(ctx context.Context, hash string) (RefreshToken, RefreshFamily, error)
	// RevokeFamily sets RevokedAt = at if not already revoked (idempotent;
	// an earlier RevokedAt is kept). Returns ErrNotFound.
	RevokeFamily(ctx context.Context, familyID string, at time.Time) error
	// RevokeUserFamilies revokes every family of the user that is not yet
	// revoked and not yet expired at `at`, and returns their IDs.
	RevokeUserFamilies(ctx context.Context, userID string, at time.Time) ([]string, error)
}

// ---------------------------------------------------------------- revocations

// RevocationKind says what a Revocation matches.
type RevocationKind string

const (
	// RevokeJTI revokes one access token by its `jti`.
	RevokeJTI RevocationKind = "jti"
	// RevokeSID revokes every access token of a refresh-token family (`sid`).
	RevokeSID RevocationKind = "sid"
	// RevokeSub revokes every access token of a user (`sub`) issued at or
	// before NotBefore.
	RevokeSub RevocationKind = "sub"
	// RevokeKID revokes every access token whose JWS header `kid` is Value:
	// recorded by an emergency key rotation (a leaked signing key), so that
	// resource servers stop trusting the key at once rather than when
	// their cached JWKS expires.
	RevokeKID RevocationKind = "kid"
)

// Revocation is one denylist entry. JSON tags define the wire format of the
// revocation feed (Redis pub/sub and the server-sent-events stream).
type Revocation struct {
	Kind  RevocationKind `json:"kind"`
	Value string         `json:"value"`
	// NotBefore, for RevokeSub only: tokens with iat <= NotBefore (in whole
	// seconds) are revoked.
	NotBefore time.Time `json:"not_before,omitzero"`
	// ExpiresAt is when the entry may be forgotten: no token it matches can
	// still be valid (the token's exp, or now + the longest access-token
	// lifetime).
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}

// RevocationQuery describes a token to check against the denylist.
type RevocationQuery struct {
	JTI      string
	SID      string
	Sub      string
	IssuedAt time.Time
	// KID is the `kid` of the token's JWS header.
	KID string
}

// RevocationStore is the access-token denylist.
type RevocationStore interface {
	// Revoke records r. Idempotent. For the same (Kind, Value) the latest
	// NotBefore and ExpiresAt win.
	Revoke(ctx context.Context, r Revocation) error
	// IsRevoked reports whether q matches an entry not yet expired at now.
	IsRevoked(ctx context.Context, q RevocationQuery, now time.Time) (bool, error)
	// Active returns every entry not yet expired at now.
	Active(ctx context.Context, now time.Time) ([]Revocation, error)
}

// FeedEvent is one message of a revocation feed.
type FeedEvent struct {
	// Revocation is set for a new revocation.
	Revocation *Revocation
	// Resync is set when the subscription was (re)established: events may
	// have been missed, so the subscriber must reload the full set.
	Resync bool
}

// RevocationFeed broadcasts revocations to every instance and resource server.
type RevocationFeed interface {
	// Publish broadcasts r to current subscribers. Delivery is best effort;
	// subscribers resync after reconnecting.
	Publish(ctx context.Context, r Revocation) error
	// Subscribe delivers a Resync event first, then every published
	// revocation, and another Resync after each reconnect. The channel is
	// closed when ctx ends.
	Subscribe(ctx context.Context) (<-chan FeedEvent, error)
}

// ---------------------------------------------------------------- login throttling

// ThrottleKey is one counter of failed logins: at most Limit failures per
// Window.
type ThrottleKey struct {
	Key    string
	Limit  int
	Window time.Duration
}

// LoginThrottle counts failed password logins.
type LoginThrottle interface {
	// Check returns how long the caller must wait before trying again (the
	// longest over keys); zero means go ahead. It records nothing.
	Check(ctx context.Context, keys []ThrottleKey) (time.Duration, error)
	// Fail records one failure against each key.
	Fail(ctx context.Context, keys []ThrottleKey) error
}

// ---------------------------------------------------------------- signing keys

// KeyState is a signing key's place in its lifecycle.
type KeyState string

const (
	// KeyNext is published in the JWKS but does not sign yet.
	KeyNext KeyState = "next"
	// KeyCurrent signs; exactly one key per algorithm is current (only the
	// configured algorithm's current key signs). For a current key,
	// ActivatesAt records when it was promoted.
	KeyCurrent KeyState = "current"
	// KeyRetired no longer signs and is published until RemoveAt.
	KeyRetired KeyState = "retired"
)

// SigningKey is one stored signing key. The store never interprets the key
// material: the keys package seals and opens it.
type SigningKey struct {
	ID        string
	Algorithm string // "ES256", "RS256" or "EdDSA"
	State     KeyState
	// Sealed is the private key, encrypted by the keys package (AES-GCM
	// under the key-encryption key). Never plain text.
	Sealed []byte
	// PublicJWK is the public key as a JWK JSON object.
	PublicJWK []byte
	CreatedAt time.Time
	// ActivatesAt is the earliest time a next key may become current.
	ActivatesAt time.Time
	// RetiredAt is zero unless retired.
	RetiredAt time.Time
	// RemoveAt is when a retired key leaves the JWKS; zero otherwise.
	RemoveAt time.Time
}

// KeyStore persists the signing-key set.
type KeyStore interface {
	// Keys returns every stored key, ordered by CreatedAt.
	Keys(ctx context.Context) ([]SigningKey, error)
	// UpdateKeys runs fn with the stored set under an exclusive lock held
	// across instances (a transaction with an advisory lock in PostgreSQL)
	// and replaces the set with fn's result atomically. If fn returns an
	// error nothing changes and UpdateKeys returns it (wrapped).
	UpdateKeys(ctx context.Context, fn func([]SigningKey) ([]SigningKey, error)) error
}

// KeyWatcher is implemented by key stores that can signal that another
// instance changed the key set (PostgreSQL LISTEN/NOTIFY). The channel
// receives a value after each change (coalesced) and is closed when ctx ends.
type KeyWatcher interface {
	WatchKeys(ctx context.Context) (<-chan struct{}, error)
}

// ---------------------------------------------------------------- housekeeping

// Purger is implemented by stores that keep records no token can use any
// more until asked to delete them (PostgreSQL; the memory store sweeps on
// its own).
type Purger interface {
	// Purge deletes revocation entries that expired before `before`, and
	// refresh-token families (with their tokens) that expired or were
	// revoked before `before`. Presenting a purged refresh token is
	// ErrNotFound, which the token endpoint answers exactly like a revoked
	// one. It returns how many records were deleted; each batch is its own
	// transaction, so a failure part-way keeps what was done.
	Purge(ctx context.Context, before time.Time) (int64, error)
}
