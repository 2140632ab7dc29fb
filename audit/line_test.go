package audit

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// nastyStrings are the inputs an escaper gets wrong: every control byte,
// quotes and backslashes, the HTML-sensitive bytes, DEL, U+2028/U+2029,
// invalid and truncated UTF-8, surrogate halves, the largest rune, U+FFFD
// itself, and multi-byte runes next to escapes.
func nastyStrings() []string {
	s := []string{
		"", "plain", `"`, `\`, `\"`, "<script>&amp;</script>", "a\x00b", "\x7f", "\u2028\u2029", "x\u2028y",
		"\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\U0010ffff", "\ufffd", "é€😀",
		"\xc3(", "😀\x80<", "tab\tnl\nret\rbs\bff\f", "\u2027\u202a", "\xe2\x80\xa8", strings.Repeat("a\"<", 50),
	}
	for b := range 0x80 {
		s = append(s, string(rune(b)), "x"+string(rune(b))+"y")
	}
	return s
}

// randomString mixes bytes likely to need escaping with arbitrary bytes
// and valid multi-byte runes.
func randomString(r *rand.Rand) string {
	pieces := []string{"\u2028", "\u2029", "é", "😀", "\xff", "\xe2\x80", "<", ">", "&", `"`, `\`, "\x00", "\x1f", "\x7f", "a"}
	var b strings.Builder
	for range r.IntN(12) {
		switch r.IntN(3) {
		case 0:
			b.WriteByte(byte(r.IntN(256)))
		case 1:
			b.WriteString(pieces[r.IntN(len(pieces))])
		default:
			b.WriteRune(rune(r.IntN(0x110000)))
		}
	}
	return b.String()
}

func marshalString(t *testing.T, s string) []byte {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// TestAppendJSONStringMatchesEncodingJSON: the escaper writes exactly what
// encoding/json's Marshal writes, for strings and byte slices.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := nastyStrings()
	for range 20000 {
		inputs = append(inputs, randomString(r))
	}
	for _, s := range inputs {
		want := marshalString(t, s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q) = %s, encoding/json: %s", s, got, want)
		}
		if got := appendJSONString([]byte("prefix"), []byte(s)); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("appendJSONString([]byte(%q)) = %s, encoding/json: %s", s, got, want)
		}
	}
}

// jsonLine is the struct the line used to be encoded from with
// encoding/json: the reference appendLine must match byte for byte.
type jsonLine struct {
	Schema    int    `json:"schema"`
	Time      string `json:"time"`
	ID        string `json:"id"`
	Type      Type   `json:"type"`
	TraceID   string `json:"trace_id,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Subject   string `json:"subject,omitempty"`
	ClientIP  string `json:"client_ip,omitempty"`
	FamilyID  string `json:"family_id,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Cause     Cause  `json:"cause,omitempty"`
	Limit     string `json:"limit,omitempty"`
	Actor     string `json:"actor,omitempty"`
	Action    string `json:"action,omitempty"`
	Target    string `json:"target,omitempty"`
	KID       string `json:"kid,omitempty"`
	Emergency *bool  `json:"emergency,omitempty"`
}

func referenceLine(t *testing.T, e Event, id string, traceID trace.TraceID, hasTrace bool) []byte {
	t.Helper()
	l := jsonLine{
		Schema: SchemaVersion, Time: e.Time.UTC().Format(timeFormat), ID: id, Type: e.Type,
		ClientID: e.ClientID, Subject: e.Subject, ClientIP: e.ClientIP, FamilyID: e.FamilyID,
		Reason: e.Reason, Kind: e.Kind, Cause: e.Cause, Limit: e.Limit,
		Actor: e.Actor, Action: e.Action, Target: e.Target, KID: e.KID,
	}
	if hasTrace {
		l.TraceID = traceID.String()
	}
	if e.Type == KeyRotated {
		l.Emergency = &e.Emergency
	}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestAppendLineMatchesEncodingJSON: every event of the golden file and
// random events with nasty field values (some empty, so omission is
// exercised, times in other zones and odd years) encode exactly as
// encoding/json encoded the struct form.
func TestAppendLineMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func() string {
		if r.IntN(3) == 0 {
			return ""
		}
		return randomString(r)
	}
	events := allEvents()
	for range 5000 {
		e := Event{
			Type: Type(pick()), ClientID: pick(), Subject: pick(), ClientIP: pick(), FamilyID: pick(), Reason: pick(),
			Kind: pick(), Cause: Cause(pick()), Limit: pick(), Actor: pick(), Action: pick(), Target: pick(), KID: pick(),
			Emergency: r.IntN(2) == 0,
			Time:      time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9)).In(time.FixedZone("z", r.IntN(50000)-25000)),
		}
		if r.IntN(4) == 0 {
			e.Type = KeyRotated
		}
		events = append(events, e)
	}
	for i, e := range events {
		if e.Time.IsZero() {
			e.Time = fixedClock()
		}
		var tid trace.TraceID
		for j := range tid {
			tid[j] = byte(r.IntN(256))
		}
		hasTrace := i%2 == 0
		id := "0123456789abcdef0123456789abcdef"
		want := referenceLine(t, e, id, tid, hasTrace)
		if got := appendLine(nil, &e, []byte(id), tid, hasTrace); !bytes.Equal(got, want) {
			t.Fatalf("event %d %+v:\n got %s\nwant %s", i, e, got, want)
		}
	}
}

// TestIDSourceUnique: ids from one source never repeat across refills.
func TestIDSourceUnique(t *testing.T) {
	var s idSource
	seen := map[[32]byte]bool{}
	for range 3 * idBatch {
		id := s.next()
		if seen[id] {
			t.Fatalf("id %s repeated", id)
		}
		seen[id] = true
	}
}
