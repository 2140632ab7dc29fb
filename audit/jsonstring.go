package audit

import "unicode/utf8"

// hexDigits are encoding/json's: lower case.
const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json's
// Marshal writes it, byte for byte (the audit line was json.Marshal output
// and readers may compare lines): '"' and '\\' escaped with a backslash,
// \b \f \n \r \t short, other control bytes as \u00XX, the HTML-sensitive
// '<' '>' '&' as \u003c \u003e \u0026 (Marshal's default), invalid UTF-8
// as \ufffd per bad byte, and U+2028/U+2029 as \u2028/\u2029 (line
// terminators to JavaScript). strconv.AppendQuote is not a substitute: it
// writes Go escapes (\x00, \a, \U0001…) that are not JSON.
// TestAppendJSONStringMatchesEncodingJSON holds it to encoding/json.
func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		// At most UTFMax bytes: converting a []byte that short to a
		// string does not allocate.
		n := min(len(s)-i, utf8.UTFMax)
		c, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
