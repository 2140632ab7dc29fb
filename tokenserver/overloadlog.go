package tokenserver

import (
	"sync"
	"time"
)

// overloadLogInterval is the least time between two WARN lines about the
// same kind of refusal.
const overloadLogInterval = 10 * time.Second

// overloadLog rate-limits the log lines of expected refusals: a 503
// temporarily_unavailable because hashing slots are full or a backing
// service is down. Under overload those come once per request, and a line
// each would flood the log (and cost CPU) exactly when the server has none to
// spare, while telling the operator nothing new after the first. So the
// first refusal of each kind is logged at WARN, the following ones at DEBUG,
// and the next WARN, at least overloadLogInterval later, carries how many
// were not reported at WARN in between. A summary is written only when a
// refusal happens, so the last burst's count appears with the next refusal.
//
// The zero value is ready to use. It is safe for concurrent use.
type overloadLog struct {
	mu sync.Mutex
	// kinds are keyed by the error's Description, one of a handful of
	// constant strings.
	kinds map[string]*overloadKind
}

type overloadKind struct {
	lastWarn   time.Time
	suppressed int
}

// record counts one refusal of the given kind at now. It reports whether to
// log it at WARN and, if so, how many refusals of that kind were only
// logged at DEBUG since the previous WARN.
func (l *overloadLog) record(kind string, now time.Time) (warn bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kinds[kind]
	if k == nil {
		if l.kinds == nil {
			l.kinds = make(map[string]*overloadKind)
		}
		l.kinds[kind] = &overloadKind{lastWarn: now}
		return true, 0
	}
	if now.Sub(k.lastWarn) < overloadLogInterval {
		k.suppressed++
		return false, 0
	}
	suppressed = k.suppressed
	k.lastWarn, k.suppressed = now, 0
	return true, suppressed
}
