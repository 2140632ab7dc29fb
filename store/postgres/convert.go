package postgres

import (
	"time"
)

// PostgreSQL keeps microseconds; the store writes UTC and reads UTC.

// utc prepares a required timestamp for a query.
func utc(t time.Time) time.Time { return t.UTC() }

// nullTime maps the zero time to SQL NULL, for optional timestamps.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// fromNull maps a scanned nullable timestamp back to a time (zero for NULL).
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullText maps "" to SQL NULL.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// fromNullText maps a scanned nullable text back to a string.
func fromNullText(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// isUUID reports whether s is a UUID in the canonical 8-4-4-4-12 hex form.
// IDs that are not cannot exist in a uuid column, so lookups answer
// ErrNotFound without asking the server (which would reject the cast).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
