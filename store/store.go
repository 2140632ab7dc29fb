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
	"encoding/json"
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
	// ErrKeyBinding: a Rotate presented a refresh token bound to a DPoP key
	// (RefreshFamily.DPoPJKT) without a proof by that key (RFC 9449 §5).
	// Nothing changed.
	ErrKeyBinding = errors.New("store: refresh token bound to another DPoP key")
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
	// Username is unique, compared case-insensitively. Callers store the
	// PRECIS-normalized form (tokenserver/username); older rows may not be.
	Username string
	// PasswordHash is an argon2id PHC string or an imported bcrypt hash;
	// see tokenserver/password for the formats.
	PasswordHash string
	// Disabled users cannot log in or refresh.
	Disabled          bool
	CreatedAt         time.Time
	UpdatedAt         time.Time
	PasswordChangedAt time.Time
	// CredentialEpoch counts the changes that end every session of the
	// user: SetPassword, SetDisabled and RevokeUserFamilies each increment
	// it in the same statement as their change. A session records the
	// epoch its login read (RefreshFamily.UserEpoch); CreateFamily and
	// Rotate refuse a family whose epoch is no longer the user's, so a
	// login that read the old password or the enabled flag just before a
	// change can never leave a live session behind. Stores set it; the
	// value given to CreateUser is ignored (a new user starts at 0).
	CredentialEpoch int64
	// Email is optional ("" for none) and unique case-insensitively among
	// users that have one. Stored in NormalizeEmail's form.
	Email string
	// Attributes is a small JSON object of application data (department,
	// tenant, ...), bounded by CheckUserProfile. Each value is one JSON
	// value; backends may re-spell it (PostgreSQL's jsonb), never change it.
	// nil and empty are the same.
	Attributes map[string]json.RawMessage
	// Roles are opaque tokens an application assigns (RFC 9068 §7.2.1.1
	// `roles`), sorted and without duplicates (NormalizeRoles). nil and
	// empty are the same.
	Roles []string
}

// UserStore persists users.
type UserStore interface {
	// CreateUser stores u. ID must be set by the caller. Returns ErrConflict
	// if the ID, the username or the email (both case-insensitively) is
	// taken, and an error wrapping ErrInvalidProfile (nothing stored) if
	// u's profile fails CheckUserProfile.
	CreateUser(ctx context.Context, u User) error
	// UserByName returns the user whose username equals name
	// case-insensitively, or ErrNotFound.
	UserByName(ctx context.Context, name string) (User, error)
	// UserByID returns the user with that ID, or ErrNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	// UserByEmail returns the user whose email equals email
	// case-insensitively, or ErrNotFound ("" finds nobody).
	UserByEmail(ctx context.Context, email string) (User, error)
	// UpdateUserProfile replaces the user's Email, Attributes and Roles with
	// p's and sets UpdatedAt = at, in one atomic step. It does not move the
	// CredentialEpoch: a profile change ends no session (refreshed tokens
	// pick up the new roles). Returns ErrNotFound, ErrConflict (the email
	// belongs to another user) or ErrInvalidProfile; on error nothing
	// changed.
	UpdateUserProfile(ctx context.Context, id string, p UserProfile, at time.Time) error
	// ListUsers returns all users ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// UpgradePasswordHash replaces the hash with newHash only if the stored
	// hash still equals oldHash (compare-and-swap), so a transparent upgrade
	// at login never overwrites a concurrent password change. It does not
	// touch PasswordChangedAt. Returns ErrNotFound or ErrConflict.
	UpgradePasswordHash(ctx context.Context, id, oldHash, newHash string) error
	// SetPassword stores a new hash, sets PasswordChangedAt = UpdatedAt =
	// at and increments CredentialEpoch, in one atomic step. Returns
	// ErrNotFound.
	SetPassword(ctx context.Context, id, hash string, at time.Time) error
	// SetDisabled sets the disabled flag and UpdatedAt = at and increments
	// CredentialEpoch (enabling too: a login that read the user before a
	// disable must not yield a session after the enable), in one atomic
	// step. Returns ErrNotFound.
	SetDisabled(ctx context.Context, id string, disabled bool, at time.Time) error
	// DeleteUser removes the user and every refresh-token family of the
	// user, atomically. Returns ErrNotFound.
	DeleteUser(ctx context.Context, id string) error
}

// UserPager is implemented by user stores that list users a page at a
// time (the admin API's cursor pagination), kept apart from UserStore so
// that stores without it still satisfy UserStore.
type UserPager interface {
	// ListUsersPage returns at most limit users (limit > 0) in ListUsers'
	// order (lower-cased username, byte order) whose lower-cased username
	// sorts strictly after lower(after) (all when after is "") and starts
	// with lower(prefix) (all when prefix is "").
	ListUsersPage(ctx context.Context, after, prefix string, limit int) ([]User, error)
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

	// Secret rotation with an overlap window (the admin API's rotate-secret):
	// the secret SecretHash replaced keeps authenticating the client until
	// PreviousSecretExpiresAt, so its deployments can move to the new one
	// without downtime. Empty / zero when no rotation is in its window.
	PreviousSecretHash      string
	PreviousSecretExpiresAt time.Time

	// Claims from the user's profile (user model, issue 10). Kept at the
	// end of the struct on purpose, apart from the fields above.

	// TokenRoles puts the user's Roles in this client's access tokens as
	// the `roles` claim (RFC 9068 §7.2.1.1). Off by default: a client
	// sees roles only when registered for them.
	TokenRoles bool
	// TokenAttributes names the user attributes copied into this client's
	// access tokens as claims of the same name. Registration refuses
	// registered claim names (tokenserver.CheckTokenAttributes).
	TokenAttributes []string

	// RequireDPoP refuses this client's token requests that carry no DPoP
	// proof (RFC 9449 §5, dpop_bound_access_tokens of RFC 9449 §5.2).
	RequireDPoP bool
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

// ClientUpdater is implemented by client stores that can change a
// registration in place (the admin API: update, rotate secret).
type ClientUpdater interface {
	// UpdateClient runs fn on the stored client with the row locked against
	// other updates and stores fn's result atomically, returning it. The
	// result's ID and CreatedAt are ignored (kept). If fn returns an error
	// nothing changes and UpdateClient returns it (wrapped). Returns
	// ErrNotFound for an unknown client (fn is not called).
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error)) (Client, error)
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
	// UserEpoch is the user's CredentialEpoch as the login read it, before
	// checking the password. The family lives only while the user's epoch
	// still equals it.
	UserEpoch int64
	// DPoPJKT binds the family's refresh tokens to a DPoP key (RFC 9449
	// §5: a public client's refresh tokens are bound to the key of the
	// login's proof): the RFC 7638 thumbprint, or "" for unbound.
	DPoPJKT string
	// UserRoles and UserAttributes are the user's current Roles and
	// Attributes, read by Rotate in the same atomic step as the rotation,
	// so a refreshed access token carries the roles the user has now
	// without another query. Set only by a successful Rotate; nothing
	// stores them with the family.
	UserRoles      []string
	UserAttributes map[string]json.RawMessage
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
	// DPoPJKT is the thumbprint of the key that signed the request's DPoP
	// proof ("" without one). A family bound to a key (RefreshFamily.DPoPJKT)
	// rotates only with that key, else ErrKeyBinding and nothing changes.
	DPoPJKT string
}

// RefreshTokenStore persists refresh-token families.
type RefreshTokenStore interface {
	// CreateFamily stores f and its first token t atomically, in the same
	// step checking that the user is enabled and its CredentialEpoch still
	// equals f.UserEpoch. Returns ErrConflict if the family ID or token
	// hash exists; ErrNotFound if the client or the user does not exist;
	// ErrRevoked if the user is disabled or its credentials changed since
	// the login read them (nothing is stored).
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
	//   ErrKeyBinding - the family is bound to a DPoP key and req.DPoPJKT
	//                  is another (or none); nothing changed, not even for
	//                  a consumed token (no reuse revocation by a caller
	//                  without the key);
	//   ErrScope     - req.Scope is not within the family's scope; nothing
	//                  changed;
	//   ErrRevoked   - the family was revoked, or its user is disabled or
	//                  gone, or the user's CredentialEpoch is no longer the
	//                  family's UserEpoch; nothing changed;
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
	// RevokeUserFamilies increments the user's CredentialEpoch and revokes
	// every family of the user that is not yet revoked and not yet expired
	// at `at`, atomically, and returns their IDs. Because of the epoch, a
	// login that read the user before the call cannot create a family
	// after it. An unknown user is no error (nothing to revoke).
	RevokeUserFamilies(ctx context.Context, userID string, at time.Time) ([]string, error)
}

// SessionInfo describes one live session of a user (a refresh-token
// family) for administrators.
type SessionInfo struct {
	// ID is the family ID: the access tokens' `sid`.
	ID        string
	ClientID  string
	Scope     string
	CreatedAt time.Time
	// ExpiresAt is the family's absolute expiry.
	ExpiresAt time.Time
	// LastUsedAt is when the newest refresh token of the family was issued
	// (the login or the latest refresh).
	LastUsedAt time.Time
}

// SessionLister is implemented by refresh-token stores that can list a
// user's sessions (the admin API).
type SessionLister interface {
	// UserSessions returns the user's sessions that are live at `at`: not
	// revoked, before their absolute expiry, with an unconsumed token before
	// its idle expiry, of an enabled user whose CredentialEpoch is still the
	// family's UserEpoch. Ordered by CreatedAt, then ID. An unknown user has
	// none (no error).
	UserSessions(ctx context.Context, userID string, at time.Time) ([]SessionInfo, error)
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

// Revocation is one denylist entry. It is the persistence type and has no
// JSON form of its own: the feed's wire format is package store/feedwire,
// and each backend that serialises entries owns its encoding.
type Revocation struct {
	Kind  RevocationKind
	Value string
	// NotBefore, for RevokeSub only: tokens with iat <= NotBefore (in whole
	// seconds) are revoked.
	NotBefore time.Time
	// ExpiresAt is when the entry may be forgotten: no token it matches can
	// still be valid (the token's exp, or now + the longest access-token
	// lifetime).
	ExpiresAt time.Time
	CreatedAt time.Time
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

// RevocationLog is implemented by the durable revocation record
// (PostgreSQL, memory): it lists entries in the order their last change
// committed, so every instance can relay revocations that were written
// elsewhere (by the CLI, or while the writer could not reach Redis) to its
// cache and its feed subscribers. The log is the outbox of the feed.
type RevocationLog interface {
	// RevocationHead returns the position of the newest change committed so
	// far: RevocationsAfter(head) lists only later changes.
	RevocationHead(ctx context.Context) (int64, error)
	// RevocationsAfter returns the entries whose last change committed
	// after position `after`, in commit order, at most limit of them, and
	// the position of the last one returned (`after` if none). Every Revoke
	// that commits after a call is listed by a later call: positions are
	// handed out in commit order, never to a change that commits before an
	// already listed one. An entry changed twice is listed at its latest
	// position only, with its merged value. Entries expired at the time of
	// the call may be omitted.
	RevocationsAfter(ctx context.Context, after int64, limit int) ([]Revocation, int64, error)
}

// FeedHealth is implemented by feeds that can tell whether they currently
// deliver every revocation. A feed that cannot (its sources are down) must
// not look healthy: the revocation stream stops its heartbeats, so
// subscribers count staleness and fail closed.
type FeedHealth interface {
	Healthy() bool
}

// TokenLifetimes remembers how long access tokens live, so that a
// revocation recorded anywhere (the CLI, another instance) outlives every
// token it must deny, whatever the servers' flags say.
type TokenLifetimes interface {
	// RecordAccessTTL notes that a server issues access tokens living up to
	// ttl until `at` at least. Servers record a time ahead of the clock and
	// record again before it passes; the latest `at` for a ttl is kept.
	RecordAccessTTL(ctx context.Context, ttl time.Duration, at time.Time) error
	// LongestAccessTTL returns the longest lifetime a token still valid at
	// `at` can have: the longest recorded server lifetime whose last record
	// is recent enough for such tokens to exist (recorded at + ttl > at),
	// or any client's own AccessTokenTTL, whichever is longer; zero when
	// nothing is known.
	LongestAccessTTL(ctx context.Context, at time.Time) (time.Duration, error)
}

// ---------------------------------------------------------------- revocation cache completeness

// ErrCacheIncomplete: a revocation cache cannot vouch that it holds every
// entry of the durable record, because it lost its data (FLUSHALL, a restart
// without persistence, a failover to an empty replica) or is being reseeded.
// Its "not revoked" means nothing: ask the durable record, and reseed. Kept
// apart from the sentinels above because only RevocationSeeder caches
// return it.
var ErrCacheIncomplete = errors.New("store: revocation cache incomplete")

// RevocationSeeder is implemented by a RevocationStore used as a cache of a
// durable one (store/redis) that can tell whether it is complete. It keeps a
// marker that its data loss takes with it: while the marker is absent or not
// "ready", the cache's IsRevoked and Active return ErrCacheIncomplete, so an
// emptied cache is noticed at the next read, not at the next periodic reseed.
//
// A seed is: token := BeginSeed; Revoke every durable entry into the cache;
// CompleteSeed(token). Any number of processes may seed the same cache at
// once: none demotes a marker another one set, and each CompleteSeed checks
// that no data loss happened since its BeginSeed.
type RevocationSeeder interface {
	// BeginSeed marks the start of a copy and returns the cache's current
	// generation as an opaque token. In one atomic step: if the marker is
	// absent (the cache lost its data) it sets a new generation in the
	// "seeding" state; a marker that exists, seeding (another process is
	// copying) or ready, is kept, so reseeding a ready cache never sends
	// readers to the durable record. Errors: ErrUnavailable.
	BeginSeed(ctx context.Context) (token string, err error)
	// CompleteSeed is called once the caller has copied every durable entry
	// (read after BeginSeed returned) into the cache. In one atomic step it
	// marks token's generation ready if the marker still holds that
	// generation (seeding, or already made ready by another process copying
	// it too). If the marker is absent or holds another generation, the
	// cache lost data during the copy: nothing changes, and the error wraps
	// ErrCacheIncomplete; begin again. Errors: ErrCacheIncomplete,
	// ErrUnavailable.
	CompleteSeed(ctx context.Context, token string) error
	// CheckSeeded returns nil if the marker says ready, else an error
	// wrapping ErrCacheIncomplete (or ErrUnavailable): a cheap probe for
	// caches that are read by others (resource servers) but rarely by this
	// process.
	CheckSeeded(ctx context.Context) error
}

// ---------------------------------------------------------------- login throttling

// ThrottleKey is one counter of login attempts: at most Limit attempts per
// Window, the window opening at the key's first reservation (a fixed window,
// not a sliding one). A key with Limit <= 0 or Window <= 0 is invalid; an
// implementation either ignores it or refuses the whole call with an error.
type ThrottleKey struct {
	Key    string
	Limit  int
	Window time.Duration
}

// LoginThrottle bounds password guessing (RFC 6749 §4.3.2). The caller
// reserves an attempt on every key before checking a password, keeps the
// reservation when the password is wrong (it becomes the failure's count) and
// gives it back otherwise. Check and count are one step, so concurrent
// attempts cannot all pass a check before any failure is counted: at most
// Limit attempts per key per window are ever let through, in flight or failed.
//
// A success only gives back its own reservation; it does not reset the
// counters, so failures before it still count until their window ends.
type LoginThrottle interface {
	// Reserve atomically reserves one attempt on every key, or none: when any
	// key already holds Limit reservations in its current window, it records
	// nothing and returns how long until that key's window ends (the longest
	// over such keys; always positive). A zero wait means the attempt is
	// reserved on every key. No keys reserves nothing and returns zero.
	//
	// Concurrent calls are linearizable: N parallel calls on keys with limit
	// L succeed exactly min(N, L) times (less any already counted), and a
	// refused call never shows up in any key's count.
	//
	// Errors: invalid keys; store.ErrUnavailable when the backend cannot be
	// reached; a context error. On error nothing is known to be reserved, and
	// the caller must refuse the login (fail closed), since it cannot bound
	// guessing.
	Reserve(ctx context.Context, keys []ThrottleKey) (time.Duration, error)
	// Release gives back one reservation on every key, for an attempt that
	// turned out not to be a failure (the password was right, or it was never
	// checked). It never takes a count below zero, and a key whose count
	// reaches zero is forgotten, so the next reservation opens a new window.
	// Releasing after the reservation's window ended may give back one count
	// of the next window; logins take far less than a window.
	//
	// Errors: as Reserve. On error the reservation may stay until its window
	// ends, which errs towards refusing.
	Release(ctx context.Context, keys []ThrottleKey) error
}

// ---------------------------------------------------------------- DPoP replay

// MaxProofKeyLen bounds the keys ProofReplayCache accepts. Callers pass an
// opaque key naming one DPoP proof (package dpop uses the key thumbprint and
// the proof's jti); backends may hash it.
const MaxProofKeyLen = 512

// ProofReplayCache remembers DPoP proofs (RFC 9449 §11.1) for as long as
// they could be accepted, so a captured proof cannot be replayed. It is
// shared by every token server node (Redis) or local to one (memory).
type ProofReplayCache interface {
	// Seen records key until the given instant and reports whether it was
	// already recorded and not yet forgotten (replayed). Check and record
	// are one step: of N concurrent calls with one new key exactly one
	// returns false. An until that has already passed records nothing and
	// reports false: such a proof is refused for its age before this.
	//
	// Errors: an empty key or one longer than MaxProofKeyLen;
	// ErrUnavailable when the backend cannot be reached or is full; a
	// context error. On error the caller must refuse the proof (fail
	// closed), since it cannot tell a replay.
	Seen(ctx context.Context, key string, until time.Time) (replayed bool, err error)
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
