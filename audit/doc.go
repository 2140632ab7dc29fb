// Package audit is the audit event stream: security-relevant facts (logins,
// refreshes, reuse, revocations, client authentication failures, admin
// actions, key rotations) as structured events, one JSON object per line on
// their own sink (--audit-log), for a SIEM.
//
// The schema is versioned (SchemaVersion) and documented in the README's
// "Audit events" table; a golden test pins the bytes. An event never holds a
// secret, password, token or username: subjects are user ids.
//
// Dependencies: the standard library and go.opentelemetry.io/otel/trace (the
// trace id) only, so every package that emits events may import it.
package audit
