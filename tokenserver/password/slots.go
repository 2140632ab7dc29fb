package password

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"
)

// Memory a server needs besides its hashing slots, and per slot besides the
// argon2id memory itself. From peak RSS measured under a login burst at the
// OWASP parameters (m = 19 MiB): 94 MB with 2 slots and 301 MB with 12, so
// each slot costs (301 − 94) / 10 ≈ 21 MB (19 MiB of argon2id memory plus
// about 1–2 MiB of garbage-collector slack and buffers) and the rest of the
// server about 94 − 2 × 21 ≈ 52 MB (pools, caches, runtime). Both constants
// round up, so the model over-predicts both measurements (106 and 316 MiB)
// rather than under-predicting either: a slot the limit cannot hold is an
// OOM kill of the whole pod in the middle of a burst, while a slot fewer
// only queues logins a little longer.
const (
	// SlotHeadroomBytes is kept free of hashing: the measured 52 MB base
	// plus about 12 MiB for connections and heap growth.
	SlotHeadroomBytes = 64 << 20
	// SlotOverheadBytes is the per-slot cost beyond argon2id's m KiB.
	SlotOverheadBytes = 2 << 20
)

// cgroup files holding the container's memory limit, relative to "/" (the
// fs.FS is os.DirFS("/") in production). With cgroup namespaces (Docker on
// cgroup v2, Kubernetes) the container's own cgroup is mounted at
// /sys/fs/cgroup; on cgroup v1 the runtimes mount it at
// /sys/fs/cgroup/memory.
const (
	cgroupV2MemoryMax = "sys/fs/cgroup/memory.max"
	cgroupV1Limit     = "sys/fs/cgroup/memory/memory.limit_in_bytes"
)

// cgroupV1Unlimited: cgroup v1 says "no limit" with a huge number
// (PAGE_COUNTER_MAX × page size, 9223372036854771712 on 4 KiB pages), not a
// keyword; anything this large is no limit.
const cgroupV1Unlimited = 1 << 62

// MemoryLimit is the memory the process may use, and where that figure
// came from.
type MemoryLimit struct {
	Bytes  int64  // 0: no limit known
	Source string // "cgroup v2 memory.max", "cgroup v1 memory.limit_in_bytes", "GOMEMLIMIT" or "none"
}

// ReadMemoryLimit returns the lower of the cgroup memory limit read from
// fsys (cgroup v2 memory.max, else cgroup v1 memory.limit_in_bytes) and
// gomemlimit (the GOMEMLIMIT environment variable, in the runtime's syntax).
// A missing file or an unset variable is no limit; an unreadable or
// malformed one is an error, returned with the limit from the other sources
// so the caller can warn and go on.
func ReadMemoryLimit(fsys fs.FS, gomemlimit string) (MemoryLimit, error) {
	best := MemoryLimit{Source: "none"}
	consider := func(bytes int64, source string) {
		if bytes > 0 && (best.Bytes == 0 || bytes < best.Bytes) {
			best = MemoryLimit{Bytes: bytes, Source: source}
		}
	}
	var errs []error
	v2, found, err := readCgroupFile(fsys, cgroupV2MemoryMax)
	if err != nil {
		errs = append(errs, err)
	}
	if found {
		consider(v2, "cgroup v2 memory.max")
	} else if err == nil {
		v1, _, err := readCgroupFile(fsys, cgroupV1Limit)
		if err != nil {
			errs = append(errs, err)
		}
		if v1 < cgroupV1Unlimited {
			consider(v1, "cgroup v1 memory.limit_in_bytes")
		}
	}
	if gomemlimit != "" {
		n, err := ParseGOMEMLIMIT(gomemlimit)
		if err != nil {
			errs = append(errs, err)
		} else if n != math.MaxInt64 {
			consider(n, "GOMEMLIMIT")
		}
	}
	return best, errors.Join(errs...)
}

// readCgroupFile reads a cgroup memory limit file. found is false when the
// file does not exist; n is 0 when it says "max" (cgroup v2's no limit).
func readCgroupFile(fsys fs.FS, name string) (n int64, found bool, err error) {
	b, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("password: memory limit: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, true, nil
	}
	n, err = strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("password: memory limit: /%s holds %q, not a byte count", name, s)
	}
	return n, true, nil
}

// ParseGOMEMLIMIT parses GOMEMLIMIT as the Go runtime does (runtime
// package doc): "off" (no limit, returned as math.MaxInt64) or a
// non-negative integer of bytes with an optional unit suffix B, KiB, MiB,
// GiB or TiB.
func ParseGOMEMLIMIT(s string) (int64, error) {
	if s == "off" {
		return math.MaxInt64, nil
	}
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = rest, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("password: GOMEMLIMIT=%q: want a byte count with an optional B, KiB, MiB, GiB or TiB suffix, or off", s)
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("password: GOMEMLIMIT=%q overflows", s)
	}
	return n << shift, nil
}

// Slots is how many hashing slots a server runs with by default, and why.
type Slots struct {
	CPUs        int         // GOMAXPROCS (the runtime follows the container's CPU limit)
	Memory      MemoryLimit // the memory limit the slots must fit in
	PerSlot     int64       // bytes one slot costs at the configured argon2id memory
	MemorySlots int         // slots the memory limit holds; 0 when there is no limit
	Slots       int         // min(CPUs, MemorySlots), at least 1
}

// DeriveSlots returns the default number of hashing slots: one per CPU
// (more would only queue hashes inside the scheduler instead of in front of
// it), but never more than (limit − SlotHeadroomBytes) / (argon2id memory +
// SlotOverheadBytes), and at least one, so a server in a small container
// still logs users in, one at a time. argon2MemoryKiB is the m parameter
// new hashes are made with; stored hashes with a larger m cost more.
func DeriveSlots(cpus int, limit MemoryLimit, argon2MemoryKiB uint32) Slots {
	s := Slots{
		CPUs:    cpus,
		Memory:  limit,
		PerSlot: int64(argon2MemoryKiB)<<10 + SlotOverheadBytes,
		Slots:   max(cpus, 1),
	}
	if limit.Bytes > 0 {
		s.MemorySlots = int(max((limit.Bytes-SlotHeadroomBytes)/s.PerSlot, 0))
		s.Slots = max(min(s.Slots, s.MemorySlots), 1)
	}
	return s
}
