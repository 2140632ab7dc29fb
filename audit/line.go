package audit

import (
	"crypto/rand"
	"encoding/hex"

	"go.opentelemetry.io/otel/trace"
)

// appendLine appends e as one line of schema version 1, newline included:
// the schema version, the time (UTC, milliseconds), the id, the type, the
// trace id when there is one, then the event's fields in this fixed order,
// each omitted when empty; "emergency" is always present on key.rotated
// (false is information there). The output is byte for byte what
// encoding/json made of the former struct form of the line (see
// TestAppendLineMatchesEncodingJSON): an append-style encoder instead of
// reflection, a tenth of the cost per event.
func appendLine(b []byte, e *Event, id []byte, traceID trace.TraceID, hasTrace bool) []byte {
	b = append(b, `{"schema":`...)
	b = appendSchema(b)
	b = append(b, `,"time":"`...)
	// The formatted time is digits and -:.Z only: nothing to escape.
	b = e.Time.UTC().AppendFormat(b, timeFormat)
	b = append(b, `","id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, string(e.Type))
	if hasTrace {
		b = append(b, `,"trace_id":"`...)
		b = hex.AppendEncode(b, traceID[:])
		b = append(b, '"')
	}
	b = appendField(b, `,"client_id":`, e.ClientID)
	b = appendField(b, `,"subject":`, e.Subject)
	b = appendField(b, `,"client_ip":`, e.ClientIP)
	b = appendField(b, `,"family_id":`, e.FamilyID)
	b = appendField(b, `,"reason":`, e.Reason)
	b = appendField(b, `,"kind":`, e.Kind)
	b = appendField(b, `,"cause":`, string(e.Cause))
	b = appendField(b, `,"limit":`, e.Limit)
	b = appendField(b, `,"actor":`, e.Actor)
	b = appendField(b, `,"action":`, e.Action)
	b = appendField(b, `,"target":`, e.Target)
	b = appendField(b, `,"kid":`, e.KID)
	if e.Type == KeyRotated {
		if e.Emergency {
			b = append(b, `,"emergency":true`...)
		} else {
			b = append(b, `,"emergency":false`...)
		}
	}
	return append(b, '}', '\n')
}

// appendSchema writes SchemaVersion (a small constant) without strconv.
func appendSchema(b []byte) []byte {
	const v = SchemaVersion
	if v >= 0 && v < 10 {
		return append(b, byte('0'+v))
	}
	return appendInt(b, v)
}

func appendInt(b []byte, v int) []byte {
	var d [20]byte
	i := len(d)
	for v >= 10 {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	d[i] = byte('0' + v)
	return append(b, d[i:]...)
}

// appendField appends key and the quoted value, or nothing when value is
// empty (the former `omitempty`).
func appendField(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	return appendJSONString(append(b, key...), value)
}

// idBatch is how many ids' worth of random bytes one crypto/rand read
// fetches: one read per 256 events instead of one per event.
const idBatch = 256

// idSource hands out event ids: 16 bytes of crypto/rand in hex, read in
// batches. It belongs to the writer goroutine (not safe for concurrent use).
// An id only has to be unique, not secret; the bytes are still the
// system's CSPRNG, so ids are as unpredictable as before.
type idSource struct {
	buf    [16 * idBatch]byte
	next16 int  // offset of the next unused 16 bytes
	filled bool // buf holds unread random bytes from next16 on
}

// next returns a fresh id: 32 hex digits, in an array so the id costs no
// allocation.
func (s *idSource) next() [32]byte {
	if !s.filled || s.next16 == len(s.buf) {
		_, _ = rand.Read(s.buf[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
		s.next16, s.filled = 0, true
	}
	var id [32]byte
	hex.Encode(id[:], s.buf[s.next16:s.next16+16])
	// The bytes are spent: no later id can repeat them.
	s.next16 += 16
	return id
}
