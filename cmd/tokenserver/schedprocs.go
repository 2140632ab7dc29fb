package main

import "runtime"

// reserveSchedulerHeadroom gives the Go scheduler one P (GOMAXPROCS) more
// than password hashing can occupy, unless the operator set GOMAXPROCS.
//
// Why: an argon2id hash is ~25 ms of pure computation that holds its P the
// whole time. With the default of one P per CPU and one hashing slot per CPU,
// a burst of logins takes every P, and a refresh, an introspection or even a
// 503 for a refused login waits in the run queue until the scheduler preempts
// a hash (every 10 ms, at each of the request's several network round trips).
// One more P lets the request's goroutine run at once on its own thread, and
// the kernel then shares the CPUs between it and the hashes, at the price of
// the hashes slowing a little while it runs.
//
// Measured with `make bench` on 2 vCPUs (2 hashing slots; the load generator,
// PostgreSQL and Redis on the same CPUs, other work on the VM now and then),
// one run each. Refresh p99 during 2× password overload: 56, 62 and 68 ms
// with GOMAXPROCS=2 (15–19× the refresh p99 alone); 20, 21, 22, 25, 26, 32,
// 46 and 62 ms with 3 (median 4.9× instead of 18×), and refused logins
// answered within 1.01–1.08× the queue timeout instead of 1.24–1.34× (median
// 1.8 ms against 24 ms in back-to-back full runs). The possible price is
// hashing throughput: in-process, two slots hash 12 % slower with a third P,
// whether garbage collection runs or not; in the bench it is within the
// noise (63.0 against 63.4 password grants/s back to back; 58–65 against
// 64–70/s over shorter runs). With 4: 34 ms (6.4×), but password grants 13 %
// fewer and peak RSS 159 MiB, over the 150 MiB target.
//
// Also tried, not kept: hashing on OS threads locked with
// runtime.LockOSThread at Linux nice 10, so the kernel prefers every other
// thread. Locked threads computed a quarter to a third fewer hashes per
// second in a microbenchmark (locking alone, without nice, cost the same),
// and in the bench password grants fell by 10–25 % more for a refresh p99
// (14–37 ms with 3 Ps) no better than the extra P alone.
//
// Setting GOMAXPROCS stops the runtime from following later changes of the
// container's CPU limit; an operator who relies on that sets GOMAXPROCS (or
// runs fewer hashing slots than CPUs) and this does nothing.
func reserveSchedulerHeadroom(getenv func(string) string, hashSlots, hashThreads int) {
	if getenv("GOMAXPROCS") != "" {
		return
	}
	// The runtime's own choice (CPUs, or the container's CPU limit), so that
	// a second server in the same process (tests) does not add another P.
	runtime.SetDefaultGOMAXPROCS()
	procs := runtime.GOMAXPROCS(0)
	if want := procsWithHeadroom(procs, hashSlots*hashThreads); want != procs {
		runtime.GOMAXPROCS(want)
	}
}

// procsWithHeadroom is procs, plus one when hashGoroutines (slots × argon2id
// threads) could otherwise occupy every P.
func procsWithHeadroom(procs, hashGoroutines int) int {
	if hashGoroutines >= procs {
		return procs + 1
	}
	return procs
}
