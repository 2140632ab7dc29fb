package main

import (
	"io/fs"
	"log/slog"

	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// hashSlots returns the number of password hashing slots serve runs with
// and logs, in one line, how it was chosen: --hash-concurrency when set,
// otherwise derived from the CPUs (GOMAXPROCS, which follows the
// container's CPU limit) and the memory limit (cgroup memory.max read from
// root, or GOMEMLIMIT), so that a login burst cannot hash the pod past its
// memory limit on a node with many cores. See password.DeriveSlots.
func hashSlots(cfg *serveConfig, getenv func(string) string, root fs.FS, cpus int, logger *slog.Logger) int {
	if cfg.hashConcurrency > 0 {
		logger.Info("password hashing slots", "slots", cfg.hashConcurrency, "source", "--hash-concurrency")
		return cfg.hashConcurrency
	}
	limit, err := password.ReadMemoryLimit(root, getenv("GOMEMLIMIT"))
	if err != nil {
		logger.Warn("memory limit partly unreadable; hashing slots derived from what was read", "err", err)
	}
	d := password.DeriveSlots(cpus, limit, uint32(cfg.argon2Memory))
	logger.Info("password hashing slots", "slots", d.Slots, "source", "derived",
		"cpus", d.CPUs, "memory_limit_bytes", d.Memory.Bytes, "memory_limit_source", d.Memory.Source,
		"memory_slots", d.MemorySlots, "bytes_per_slot", d.PerSlot, "headroom_bytes", int64(password.SlotHeadroomBytes))
	return d.Slots
}
