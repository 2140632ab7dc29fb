package postgres

import (
	"time"

	"github.com/tokenserver/tokenserver/store"
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

// isUUID: IDs that are not canonical UUIDs cannot exist in a uuid column,
// so lookups answer ErrNotFound without asking the server (which would
// reject the cast).
func isUUID(s string) bool { return store.IsUUID(s) }
