// Package password hashes and verifies user passwords for tokenserver.
//
// # Stored formats
//
// New hashes are argon2id (RFC 9106) in the PHC string format used by the
// reference implementation and by passlib:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// where m is memory in KiB, t the number of passes, p the parallelism, and salt
// and hash are standard base64 without padding. Only version 19 (0x13) and
// exactly the parameters m, t, p in that order are accepted. Verify always
// takes the parameters from the stored string, never from the Hasher, so hashes
// made with older settings keep working. Parsed parameters are bounded
// (m ≤ 1 GiB, 1 ≤ t ≤ 100, 1 ≤ p ≤ 16, m ≥ 8·p, salt 8–64 bytes, hash 16–128
// bytes) so a hostile stored hash cannot make the server allocate without limit.
//
// Imported hashes are also verified. bcrypt is accepted as $2a$, $2b$ and $2y$
// (the same algorithm; $2y$ is PHP's name for it) with costs 4–16; higher
// costs take many seconds of CPU per check and are rejected as malformed. As
// in every bcrypt implementation, only the first 72 bytes of the password
// count.
//
// Salted bcrypt is for applications (typically FastAPI/passlib) that stored
// bcrypt(password + salt) with a per-user salt in a separate column. We store
// it as
//
//	$bcrypt-salted$<salt>$<bcrypt hash>
//
// where salt is the application's salt string in base64url without padding
// (1–256 bytes once decoded) and the bcrypt hash is one of the forms above,
// starting with its own '$'. Build it with SaltedBcrypt. Verification computes
// bcrypt(password + salt); only the first 72 bytes of the concatenation count,
// which is what the original application did.
//
// PBKDF2-HMAC-SHA256 and PBKDF2-HMAC-SHA512 hashes (RFC 8018 §5.2), as
// stored by Django and Keycloak, are stored as
//
//	$pbkdf2-sha256$i=<iterations>$<salt>$<hash>
//	$pbkdf2-sha512$i=<iterations>$<salt>$<hash>
//
// with salt and hash in standard base64 without padding, as for argon2id.
// Verification computes PBKDF2 over the UTF-8 password with the stored salt
// and iterations and the stored hash's length as key length, and compares in
// constant time. Salts are 1–128 bytes, hashes 16–128 bytes, and the work,
// iterations × ⌈hash length / PRF output size⌉, is at most 10,000,000 PRF
// iterations (about 1.6 s of CPU for SHA-256, 4.5 s for SHA-512; real
// defaults are at most 1.2 million): a hash beyond that is malformed, both
// when imported and when verified, so a stored hash cannot be used to burn
// CPU. Build them with Import or Keycloak:
//
//   - Import takes Django's default hasher's form,
//     pbkdf2_sha256$<iterations>$<salt>$<base64 hash>, where the salt is a
//     string whose UTF-8 bytes are the PBKDF2 salt and the hash is 32 bytes
//     in padded standard base64. (Django has no built-in pbkdf2_sha512
//     hasher; its pbkdf2_sha1 and other hashers are not accepted.) Django's
//     unusable-password marker "!…" is refused: there is nothing to import.
//     Import also accepts every stored form above, unchanged.
//   - Keycloak takes one password credential from a Keycloak realm export
//     (users[].credentials[]): either the current form, whose credentialData
//     and secretData are JSON documents inside strings,
//     {"hashIterations":N,"algorithm":"pbkdf2-sha256"} and
//     {"value":"<base64 hash>","salt":"<base64 salt>"}, or the older form
//     with hashedSaltedValue, salt, hashIterations and algorithm at top
//     level. Other fields (id, userLabel, createdDate, additionalParameters)
//     are ignored. Only the algorithms pbkdf2-sha256 and pbkdf2-sha512 are
//     accepted; Keycloak's key length (256, 512 or 1024 bits, depending on
//     version) is the decoded value's length, as in Keycloak's own check. A
//     top-level "value" is a plain-text password in Keycloak's format and is
//     refused. Keycloak's optional padding of short passwords with NUL
//     characters needs no handling: HMAC pads its key with zeros anyway.
//
// A successful Verify reports needsRehash for every non-argon2id hash and for
// argon2id hashes with any parameter (m, t, p, salt or hash length) weaker than
// the Hasher's; the caller then stores a fresh Hash of the password it just
// verified. Stronger hashes are left alone: lowering the configured cost never
// silently downgrades stored hashes.
//
// # Why a semaphore
//
// argon2id is memory-hard on purpose: each computation allocates m KiB and
// keeps a CPU busy for its whole duration. Without a bound, a burst of login
// attempts makes the process allocate requests × m KiB and every login slows
// down together until the process is killed for memory. Every argon2id,
// bcrypt and PBKDF2 computation (Hash, Verify, VerifyDummy) therefore takes one of
// MaxConcurrent slots. A caller waits at most QueueTimeout (and never past its
// context) for a slot, then gets ErrBusy, which the HTTP layer answers with 503
// and Retry-After. Nothing is started in the background, so the work in flight
// is always bounded: at most MaxConcurrent computations, each using p
// goroutines inside x/crypto/argon2 (p ≤ 16).
//
// Memory math: hashing memory is at most MaxConcurrent × m KiB for hashes made
// at the Hasher's parameters. At the OWASP minimum (m = 19456 KiB = 19 MiB) and
// MaxConcurrent = 8 that is 152 MiB. Stored hashes with larger m cost
// proportionally more, up to the 1 GiB per-hash bound; hashes only enter the
// store through Hash or through an import validated with Check (which
// Import and Keycloak apply).
//
// # Admission
//
// Waiting is only worth it when it ends in a slot. Each Hasher keeps a moving
// average of how long a hash takes here (an exponentially weighted mean with
// weight 1/8, starting from zero, so a fresh Hasher admits everyone until it
// has measured a few hashes), and a caller that finds
// every slot busy is admitted to the queue only if
//
//	(callers already waiting / MaxConcurrent + 1) × mean hash time ≤ QueueTimeout
//
// that is, if the queue ahead of it drains and one running hash ends within
// the timeout. Otherwise it gets ErrBusy at once instead of holding a request
// open for the whole timeout only to be refused then. Under sustained
// overload the queue therefore settles at what the slots can serve within
// QueueTimeout: refused logins are answered in microseconds, and accepted
// ones rarely wait the full QueueTimeout. An admitted caller still waits at
// most QueueTimeout and never past its context.
//
// Every ErrBusy carries a hint of when to retry, the expected wait of a new
// caller behind the current queue: the returned error has a method
// RetryAfter() time.Duration (read it with errors.As), and Hasher.RetryAfter
// gives the same figure at any moment.
//
// # Timing
//
// All errors are sentinels (ErrBusy, ErrTooLong, ErrMalformed, ErrEmpty) or
// wrap one, or wrap the context's error; compare with errors.Is.
//
// Passwords longer than MaxPasswordBytes are rejected with ErrTooLong before
// any hashing or waiting. VerifyDummy verifies against a hash computed once per
// Hasher at its own parameters, so a login for an unknown user costs the same
// as a wrong password for a known one.
package password
