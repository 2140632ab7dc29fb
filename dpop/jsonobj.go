package dpop

import (
	"encoding/json"
	"strconv"
)

// A proof's header, claims and jwk are flat JSON objects read by exact
// member name. Decoding them into maps (or structs, whose field names
// encoding/json matches case-insensitively) cost most of a proof's
// allocations; instead each object is validated by encoding/json (its
// scanner is pooled: no allocation) and then walked here, handing out
// member names and raw values as slices of the input. Only escaped or
// non-ASCII strings, rare in proofs, go through json.Unmarshal.

// text is what the walker reads: the header and jwk as bytes (nothing of
// them is kept), the claims as one string (its members are kept as
// substrings, with no copy each).
type text interface{ ~string | ~[]byte }

// validObject reports whether b is one valid JSON object: what members
// needs.
func validObject(b []byte) bool {
	if !json.Valid(b) {
		return false
	}
	i := skipSpace(b, 0)
	return b[i] == '{'
}

// members calls fn with each member's name (unescaped) and raw value of the
// JSON object obj, in order; a later duplicate overrides an earlier one in
// fn's hands, as encoding/json into a map does (RFC 7515 §4 allows keeping
// the lexically last). obj must be valid (validObject, or an object value
// inside a valid object). It reports false only for a name encoding/json
// cannot decode.
func members[T text](obj T, fn func(name, value T)) bool {
	i := skipSpace(obj, 0)
	i = skipSpace(obj, i+1)
	if obj[i] == '}' {
		return true
	}
	for {
		// Valid JSON: a string key, a colon, a value, then , or }.
		end := valueEnd(obj, i)
		name, ok := jsonString(obj[i:end])
		if !ok {
			return false
		}
		i = skipSpace(obj, end)
		i = skipSpace(obj, i+1) // the colon
		end = valueEnd(obj, i)
		fn(name, obj[i:end])
		i = skipSpace(obj, end)
		if obj[i] == '}' {
			return true
		}
		i = skipSpace(obj, i+1) // the comma
	}
}

func skipSpace[T text](s T, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just past the JSON value starting at s[i];
// s is valid JSON.
func valueEnd[T text](s T, i int) int {
	switch s[i] {
	case '"':
		for i++; s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
			}
		}
		return i + 1
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch s[i] {
			case '"':
				i = valueEnd(s, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	// A number, true, false or null.
	for i < len(s) && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
		s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
		i++
	}
	return i
}

// jsonString decodes a raw JSON value that is a string. Plain ASCII
// without escapes is the value itself, sliced from the input; anything
// else is left to encoding/json (which unescapes and replaces invalid
// UTF-8, as it did for the map decoding this replaces).
func jsonString[T text](raw T) (T, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return raw[:0], false
	}
	body := raw[1 : len(raw)-1]
	for i := 0; i < len(body); i++ {
		if body[i] == '\\' || body[i] >= 0x80 {
			var s string
			if err := json.Unmarshal([]byte(raw), &s); err != nil {
				return raw[:0], false
			}
			return T(s), true
		}
	}
	return body, true
}

// jsonNumber decodes a raw JSON value that is a number.
func jsonNumber[T text](raw T) (float64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return f, err == nil
}

// isNull reports whether a raw value is absent (empty) or JSON null: both
// mean "not given" for optional members.
func isNull[T text](raw T) bool {
	return len(raw) == 0 || string(raw) == "null"
}
