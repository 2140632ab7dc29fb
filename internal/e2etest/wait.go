package e2etest

import "time"

// WaitUntil polls cond every interval until it holds or bound passes and
// reports whether it held. bound is a hang detector, never a timing
// assertion.
func WaitUntil(bound, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
