package password

import (
	"bufio"
	"bytes"
	"crypto/sha1" //nolint:gosec // SHA-1 names list entries (as HIBP does); it protects nothing.
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// A blocklist file of known-breached passwords, checked in constant memory.
//
// Format: one lower-case hex digest per line, every line the same width
// and ending in "\n" (no "\r", no blank lines), sorted in byte order, each
// digest the SHA-1 (40 digits) or SHA-256 (64 digits) of a password's
// UTF-8 bytes as given (not normalised: breach corpora list passwords as
// they were typed). The width of the first line picks the digest for the
// whole file. Records have a fixed size, so Contains binary-searches the
// file with ReadAt: about log2(lines) reads of one record, and the
// Blocklist holds only the open file and two numbers, whatever the file's
// size (the Pwned Passwords list has about a billion lines).
//
// Build one with BuildBlocklist from a plain list, or convert the Pwned
// Passwords SHA-1 list "ordered by hash" (lines "HEX:COUNT\r\n") with
//
//	cut -d: -f1 pwned-passwords-sha1-ordered-by-hash.txt | tr 'A-F' 'a-f' > blocklist
//
// (lower-casing keeps the order: digits sort before letters either way).

// Blocklist is an open blocklist file. Safe for concurrent use.
type Blocklist struct {
	f *os.File
	// width is the digest's hex length (40 or 64); a record is width+1 bytes.
	width   int
	records int64
}

// OpenBlocklist opens and checks the shape of a blocklist file: its first
// record's width, that its size is a whole number of records, and that the
// first and last records are digests. It reads no more than two records.
func OpenBlocklist(path string) (*Blocklist, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("password: blocklist: %w", err)
	}
	b, err := newBlocklist(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("password: blocklist %s: %w", path, err)
	}
	return b, nil
}

func newBlocklist(f *os.File) (*Blocklist, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var head [sha256.Size*2 + 1]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	width := bytes.IndexByte(head[:n], '\n')
	if width != sha1.Size*2 && width != sha256.Size*2 {
		return nil, errors.New("the first line is not a 40- or 64-digit hex digest ending in a newline")
	}
	b := &Blocklist{f: f, width: width}
	if st.Size()%int64(width+1) != 0 {
		return nil, fmt.Errorf("size %d is not a whole number of %d-byte lines", st.Size(), width+1)
	}
	b.records = st.Size() / int64(width+1)
	buf := make([]byte, width+1)
	for _, i := range []int64{0, b.records - 1} {
		if err := b.record(i, buf); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// record reads record i into buf (width+1 bytes) and checks its shape.
func (b *Blocklist) record(i int64, buf []byte) error {
	if _, err := b.f.ReadAt(buf, i*int64(b.width+1)); err != nil {
		return fmt.Errorf("password: blocklist: read line %d: %w", i+1, err)
	}
	if buf[b.width] != '\n' || !lowerHex(buf[:b.width]) {
		return fmt.Errorf("password: blocklist: line %d is not a %d-digit lower-case hex digest", i+1, b.width)
	}
	return nil
}

func lowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Contains reports whether pw's digest is in the file. It binary-searches
// with ReadAt into one buffer of one record: memory does not depend on
// the file's size. A malformed record met on the way is an error.
func (b *Blocklist) Contains(pw string) (bool, error) {
	var want [sha256.Size * 2]byte
	if b.width == sha1.Size*2 {
		sum := sha1.Sum([]byte(pw)) //nolint:gosec // see the import
		hex.Encode(want[:], sum[:])
	} else {
		sum := sha256.Sum256([]byte(pw))
		hex.Encode(want[:], sum[:])
	}
	key := want[:b.width]
	buf := make([]byte, b.width+1)
	lo, hi := int64(0), b.records // search [lo, hi)
	for lo < hi {
		mid := lo + (hi-lo)/2
		if err := b.record(mid, buf); err != nil {
			return false, err
		}
		switch c := bytes.Compare(buf[:b.width], key); {
		case c == 0:
			return true, nil
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return false, nil
}

// Close closes the file.
func (b *Blocklist) Close() error { return b.f.Close() }

// BuildBlocklist writes a SHA-1 blocklist file to dst from a plain list of
// passwords, one per line (a trailing "\r" is dropped; empty lines are
// skipped). It sorts in memory, so it is for building lists, not for the
// server's hot path.
func BuildBlocklist(dst io.Writer, plain io.Reader) error {
	var digests []string
	sc := bufio.NewScanner(plain)
	sc.Buffer(make([]byte, 64<<10), MaxPasswordBytes+2)
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(line) == 0 {
			continue
		}
		sum := sha1.Sum(line) //nolint:gosec // see the import
		digests = append(digests, hex.EncodeToString(sum[:]))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("password: build blocklist: %w", err)
	}
	slices.Sort(digests)
	digests = slices.Compact(digests)
	w := bufio.NewWriter(dst)
	for _, d := range digests {
		w.WriteString(d)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("password: build blocklist: %w", err)
	}
	return nil
}
