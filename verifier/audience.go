package verifier

import "strings"

// Limits on what an audience mismatch reports: a token may carry many long
// audiences, and the report goes into a response header.
const (
	maxReportedAudiences = 4
	maxReportedAudience  = 100
)

// audienceMismatch is the error of a token that checks out in every other
// respect but whose aud does not include the verifier's audience. It wraps
// ErrAudienceMismatch. Its text names the token's audiences and the
// expected one: neither is secret (the bearer holds the token, and the
// expected audience is the default realm), and it is what an operator needs
// to see that the client was registered for another audience.
type audienceMismatch struct {
	// detail is "token aud [...] does not include <audience>".
	detail string
}

func newAudienceMismatch(got []string, want string) *audienceMismatch {
	var b strings.Builder
	b.WriteString("token aud [")
	for i, a := range got {
		if i == maxReportedAudiences {
			b.WriteString(" ...")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(descriptionText(a, maxReportedAudience))
	}
	b.WriteString("] does not include ")
	b.WriteString(descriptionText(want, maxReportedAudience))
	return &audienceMismatch{detail: b.String()}
}

func (e *audienceMismatch) Error() string { return ErrAudienceMismatch.Error() + ": " + e.detail }
func (e *audienceMismatch) Unwrap() error { return ErrAudienceMismatch }

// description is the RFC 6750 error_description of the mismatch.
func (e *audienceMismatch) description() string { return "audience mismatch: " + e.detail }

// descriptionText makes s safe for an error_description, whose value RFC
// 6750 §3 limits to %x20-21 / %x23-5B / %x5D-7E (printable ASCII without
// '"' and '\'): any other byte becomes '?', so the result needs no escaping
// in a quoted-string or in JSON. Longer than max bytes, it is clipped and
// marked with "...".
func descriptionText(s string, max int) string {
	clipped := len(s) > max
	if clipped {
		s = s[:max]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '?'
		}
	}
	if clipped {
		return string(b) + "..."
	}
	return string(b)
}
