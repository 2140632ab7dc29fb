package password

import "fmt"

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // parallelism
	KeyLen  uint32 // bytes of derived hash
	SaltLen uint32 // bytes of random salt
}

// OWASP returns the OWASP Password Storage Cheat Sheet minimum for argon2id:
// m=19456 KiB (19 MiB), t=2, p=1, with a 16-byte salt and a 32-byte hash.
func OWASP() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
}

// Bounds on argon2id parameters, for parsed hashes and for configuration
// alike, so that anything Hash writes can be parsed back.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 100
	maxThreads   = 16
	minKeyLen    = 16
	maxKeyLen    = 128
	minSaltLen   = 8
	maxSaltLen   = 64
)

// Strong-enough lengths for configuration (RFC 9106 §4 recommends a 128-bit
// salt; a 256-bit tag matches our default).
const (
	strongKeyLen  = 32
	strongSaltLen = 16
)

// validate reports whether p is within the hard bounds every hash must meet.
func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d outside [1, %d]", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("threads %d outside [1, %d]", p.Threads, maxThreads)
	case p.Memory > maxMemoryKiB:
		return fmt.Errorf("memory %d KiB above %d KiB", p.Memory, maxMemoryKiB)
	case p.Memory < 8*uint32(p.Threads):
		// RFC 9106 §3.1: memory size m MUST be at least 8·p KiB.
		return fmt.Errorf("memory %d KiB below 8×threads", p.Memory)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d outside [%d, %d]", p.KeyLen, minKeyLen, maxKeyLen)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d outside [%d, %d]", p.SaltLen, minSaltLen, maxSaltLen)
	}
	return nil
}

// meetsOWASP reports whether p is at least as strong as one of the OWASP
// cheat sheet's argon2id configurations.
func (p Params) meetsOWASP() bool {
	if p.KeyLen < strongKeyLen || p.SaltLen < strongSaltLen {
		return false
	}
	// The cheat sheet's equivalent (memory KiB, time) pairs for p=1.
	owaspEquivalents := [...]struct{ memory, time uint32 }{
		{47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5},
	}
	for _, e := range owaspEquivalents {
		if p.Memory >= e.memory && p.Time >= e.time {
			return true
		}
	}
	return false
}

// weakerThan reports whether any parameter of p is below the same parameter
// of want.
func (p Params) weakerThan(want Params) bool {
	return p.Memory < want.Memory || p.Time < want.Time || p.Threads < want.Threads ||
		p.KeyLen < want.KeyLen || p.SaltLen < want.SaltLen
}
