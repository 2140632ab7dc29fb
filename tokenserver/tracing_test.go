package tokenserver

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenserver/tokenserver/internal/telemetry"
	"github.com/tokenserver/tokenserver/tokenserver/password"
)

// tracingHarness is a harness whose spans (server, grant, hashing,
// signing) reach the returned in-memory exporter as each span ends.
func tracingHarness(t *testing.T) (*harness, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr := telemetry.New(exp, nil, true)
	t.Cleanup(func() { _ = tr.Shutdown(t.Context()) })
	h := newHarness(t, func(h *harness, c *Config) {
		hc := testHasherConfig()
		hc.Observer = tr.HashObserver()
		hasher, err := password.NewHasher(hc)
		if err != nil {
			t.Fatal(err)
		}
		h.hasher, c.Hasher = hasher, hasher
		c.TracerProvider = tr.TracerProvider()
		h.wrap = tr.Handler
	})
	return h, exp
}

// The caller's span, sent in a W3C traceparent header.
const (
	callerTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID      = "00f067aa0ba902b7"
	callerTraceparent = "00-" + callerTraceID + "-" + callerSpanID + "-01"
)

func withTraceparent(r *http.Request) { r.Header.Set("traceparent", callerTraceparent) }

// edges returns "parent > child" for every span whose parent was
// exported too, and "caller > name" for a span whose parent is the
// caller's span of callerTraceparent.
func edges(spans tracetest.SpanStubs) []string {
	names := map[trace.SpanID]string{}
	for _, s := range spans {
		names[s.SpanContext.SpanID()] = s.Name
	}
	var out []string
	for _, s := range spans {
		switch p := s.Parent; {
		case p.SpanID().String() == callerSpanID && p.IsRemote():
			out = append(out, "caller > "+s.Name)
		case names[p.SpanID()] != "":
			out = append(out, names[p.SpanID()]+" > "+s.Name)
		}
	}
	slices.Sort(out)
	return out
}

func spanNamed(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	for _, s := range spans {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no span %q among %v", name, edges(spans))
	return tracetest.SpanStub{}
}

func spanAttr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func TestTraceOfTokenRequests(t *testing.T) {
	tests := []struct {
		name      string
		send      func(h *harness)
		grant     string
		want      []string
		wantError string
		status    codes.Code
	}{
		{
			name: "password grant",
			send: func(h *harness) {
				h.token(formBody("grant_type", "password", "username", aliceName, "password", alicePassword),
					withBasic(webID, webSecret), withTraceparent)
			},
			grant: "grant password",
			want: []string{
				"POST /token > grant password",
				"caller > POST /token",
				"grant password > password hash",
				"grant password > password queue wait",
				"grant password > sign access token",
			},
		},
		{
			name: "refresh",
			send: func(h *harness) {
				rt := h.login("").RefreshToken
				h.token(formBody("grant_type", "refresh_token", "refresh_token", rt),
					withBasic(webID, webSecret), withTraceparent)
			},
			grant: "grant refresh_token",
			want: []string{
				"POST /token > grant refresh_token",
				"caller > POST /token",
				"grant refresh_token > sign access token",
			},
		},
		{
			name: "wrong password: the RFC code, not a server fault",
			send: func(h *harness) {
				h.token(formBody("grant_type", "password", "username", aliceName, "password", "wrong password"),
					withBasic(webID, webSecret), withTraceparent)
			},
			grant: "grant password",
			want: []string{
				"POST /token > grant password",
				"caller > POST /token",
				"grant password > password hash",
				"grant password > password queue wait",
			},
			wantError: CodeInvalidGrant,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, exp := tracingHarness(t)
			tt.send(h)
			var spans tracetest.SpanStubs
			for _, s := range exp.GetSpans() {
				if s.SpanContext.TraceID().String() == callerTraceID {
					spans = append(spans, s)
				}
			}
			if got := edges(spans); !slices.Equal(got, tt.want) {
				t.Fatalf("span tree:\n got %q\nwant %q", got, tt.want)
			}
			server := spanNamed(t, spans, "POST /token")
			if server.SpanKind != trace.SpanKindServer || spanAttr(server, "http.route") != "/token" {
				t.Errorf("server span kind %v route %q, want server, /token", server.SpanKind, spanAttr(server, "http.route"))
			}
			g := spanNamed(t, spans, tt.grant)
			grantType := strings.TrimPrefix(tt.grant, "grant ")
			if spanAttr(g, "oauth.grant_type") != grantType || spanAttr(g, "oauth.client_id") != webID {
				t.Errorf("grant span attributes %v, want oauth.grant_type=%s oauth.client_id=%s", g.Attributes, grantType, webID)
			}
			if spanAttr(g, "oauth.error") != tt.wantError || g.Status.Code != tt.status {
				t.Errorf("grant span oauth.error %q status %v, want %q %v", spanAttr(g, "oauth.error"), g.Status.Code, tt.wantError, tt.status)
			}
		})
	}
}

// An unauthenticated client's id is unverified input: not recorded.
func TestTraceOfFailedClientAuthentication(t *testing.T) {
	h, exp := tracingHarness(t)
	rec := h.token(formBody("grant_type", "password", "username", aliceName, "password", alicePassword),
		withBasic(webID, "wrong secret"), withTraceparent)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d", rec.Code)
	}
	g := spanNamed(t, exp.GetSpans(), "grant password")
	if spanAttr(g, "oauth.client_id") != "" || spanAttr(g, "oauth.error") != CodeInvalidClient {
		t.Errorf("grant span attributes %v, want no oauth.client_id and oauth.error=invalid_client", g.Attributes)
	}
}

// An unimplemented grant_type is attacker-chosen text: one span name.
func TestTraceOfUnknownGrantType(t *testing.T) {
	h, exp := tracingHarness(t)
	h.token(formBody("grant_type", "urn:evil:"+strings.Repeat("x", 50)), withBasic(webID, webSecret))
	g := spanNamed(t, exp.GetSpans(), "grant other")
	if spanAttr(g, "oauth.grant_type") != GrantOther || spanAttr(g, "oauth.error") != CodeUnsupportedGrantType {
		t.Errorf("grant span attributes %v", g.Attributes)
	}
}

// No span holds a username, password, client secret or token: drive every
// endpoint that sees one and search every name, attribute, event and
// status of every span.
func TestTraceHoldsNoSecrets(t *testing.T) {
	h, exp := tracingHarness(t)
	tok := h.login("read")
	next := h.mustToken(h.refresh(tok.RefreshToken))
	h.token(formBody("grant_type", "password", "username", aliceName, "password", "wrong-"+alicePassword), withBasic(webID, webSecret))
	h.token(formBody("grant_type", "password", "username", "nobody-"+aliceName, "password", alicePassword), withBasic(webID, webSecret))
	h.token(formBody("grant_type", "password", "username", aliceName, "password", alicePassword), withBasic(webID, "wrong-"+webSecret))
	h.introspectReq(formBody("token", next.AccessToken), withBasic(webID, webSecret))
	h.revokeReq(formBody("token", next.RefreshToken), withBasic(webID, webSecret))
	h.revokeReq(formBody("token", next.AccessToken), withBasic(webID, webSecret))
	h.do(http.MethodGet, "/token?"+formBody("access_token", next.AccessToken, "password", alicePassword), "")

	spans := exp.GetSpans()
	if len(spans) < 9 {
		t.Fatalf("only %d spans: the test would prove nothing", len(spans))
	}
	secrets := []string{aliceName, strings.ToLower(aliceName), alicePassword, webSecret,
		tok.AccessToken, tok.RefreshToken, next.AccessToken, next.RefreshToken}
	for _, s := range spans {
		var texts []string
		texts = append(texts, s.Name, s.Status.Description)
		for _, kv := range s.Attributes {
			texts = append(texts, kv.Value.Emit())
		}
		for _, ev := range s.Events {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, kv.Value.Emit())
			}
		}
		for _, text := range texts {
			for _, secret := range secrets {
				if strings.Contains(text, secret) {
					t.Errorf("span %q holds %q in %q", s.Name, secret, text)
				}
			}
		}
	}
}
