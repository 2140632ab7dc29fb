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
// PostgreSQL and Redis on the same CPUs), refresh p99 during 2× password
// overload over refresh p99 alone, one run each: 18.1× and 18.7× with
// GOMAXPROCS=2; 4.8×, 4.9×, 5.2×, 5.9× and 7.8× with 3, password grants
// unchanged (0.96–1.10× the all-core argon2id rate) and refused logins
// answered within 1.03–1.08× the queue timeout instead of 1.32–1.34×; 6.4×
// with 4, but password grants 0.87× and peak RSS 159 MiB (extra Ps also run
// more garbage collection, which every hash's 19 MiB allocation triggers).
// Also tried, not kept: hashing on OS threads locked with
// runtime.LockOSThread at Linux nice 10. Those threads computed a quarter to
// a third fewer hashes per second in a microbenchmark (a locked thread hands
// its P back and forth around each of those collections), and password
// grants fell to 0.75–0.95× in the bench, for a refresh p99 (3.4–7.2×) no
// better than the extra P alone.
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
