package password

import "errors"

var (
	// ErrBusy means no hashing slot became free within Config.QueueTimeout,
	// or none was expected to (the caller was refused without waiting; see
	// Admission in the package doc). The error a Hasher returns wraps
	// ErrBusy and has a method RetryAfter() time.Duration, a hint of when to
	// retry. The HTTP layer answers 503 with Retry-After.
	ErrBusy = errors.New("password: too many concurrent hash computations")
	// ErrTooLong means the password is longer than MaxPasswordBytes. It is
	// returned before any hashing or waiting.
	ErrTooLong = errors.New("password: password too long")
	// ErrMalformed means an encoded hash is not in a supported format or its
	// parameters are out of bounds.
	ErrMalformed = errors.New("password: malformed hash")
	// ErrEmpty means Hash was asked to hash an empty password.
	ErrEmpty = errors.New("password: empty password")
)
