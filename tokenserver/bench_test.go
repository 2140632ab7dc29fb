package tokenserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tokenserver/tokenserver/internal/telemetry"
)

// BenchmarkPasswordGrant measures the token endpoint around the password
// hash (tiny test parameters, so the rest of the request dominates).
func BenchmarkPasswordGrant(b *testing.B) {
	h := newHarness(b)
	body := loginBody(aliceName, alicePassword)
	auth := withBasic(webID, webSecret)
	b.ReportAllocs()
	for b.Loop() {
		if rec := h.token(body, auth); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkRefreshGrant measures one refresh: client authentication (from
// the cache), the one Rotate, sign, respond.
func BenchmarkRefreshGrant(b *testing.B) {
	h := newHarness(b)
	rt := h.login("").RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		rec := h.refresh(rt)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var tj tokenJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &tj); err != nil {
			b.Fatal(err)
		}
		rt = tj.RefreshToken
	}
}

func BenchmarkIssueAccessToken(b *testing.B) {
	h := newHarness(b)
	client, err := h.mem.ClientByID(b.Context(), webID)
	if err != nil {
		b.Fatal(err)
	}
	sess := session{userID: aliceID, username: aliceName, familyID: "family", scope: client.Scopes}
	req := grantRequest{client: client, now: h.clock.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.srv.issueAccessToken(b.Context(), req, sess); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJWKS(b *testing.B) {
	h := newHarness(b)
	b.ReportAllocs()
	for b.Loop() {
		if rec := h.do(http.MethodGet, "/.well-known/jwks.json", ""); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkIntrospect measures the access-token path of /introspect
// end to end through the handler: form parse, client authentication, one
// signature check, one claims decode, one denylist query, one encode.
func BenchmarkIntrospect(b *testing.B) {
	h := newHarness(b)
	body := formBody("token", h.login("read").AccessToken, "token_type_hint", "access_token")
	auth := withBasic(mobileID, mobileSecret)
	b.ReportAllocs()
	for b.Loop() {
		rec := h.introspectReq(body, auth)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), `{"active":true`) {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkIntrospectAccessToken isolates the token work from HTTP.
func BenchmarkIntrospectAccessToken(b *testing.B) {
	h := newHarness(b)
	token := h.login("read").AccessToken
	client, err := h.mem.ClientByID(b.Context(), mobileID)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	now := h.clock.Now()
	b.ReportAllocs()
	for b.Loop() {
		resp, _, err := h.srv.introspectAccessToken(ctx, client, token, now)
		if err != nil || !resp.Active {
			b.Fatalf("%+v %v", resp, err)
		}
	}
}

// BenchmarkRevokeAccessToken measures /revoke for an access token: the
// denylist write and the publish.
func BenchmarkRevokeAccessToken(b *testing.B) {
	h := newHarness(b)
	body := formBody("token", h.login("read").AccessToken)
	auth := withBasic(webID, webSecret)
	b.ReportAllocs()
	for b.Loop() {
		if rec := h.revokeReq(body, auth); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// discardExporter accepts every span and keeps none: the cost of tracing
// up to the exporter, without a collector.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkRefreshGrantTracing is BenchmarkRefreshGrant with tracing off
// (nil TracerProvider, no middleware: the production default) and on
// (the server-span middleware, the grant and signing spans, every request sampled, batched
// to an exporter that discards).
func BenchmarkRefreshGrantTracing(b *testing.B) {
	for _, tc := range []struct {
		name string
		on   bool
	}{{"off", false}, {"on", true}} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, func(h *harness, c *Config) {
				if !tc.on {
					return
				}
				tr := telemetry.New(discardExporter{}, nil, false)
				b.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
				c.TracerProvider = tr.TracerProvider()
				h.wrap = tr.Handler
			})
			rt := h.login("").RefreshToken
			b.ReportAllocs()
			for b.Loop() {
				rec := h.refresh(rt)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				var tj tokenJSON
				if err := json.Unmarshal(rec.Body.Bytes(), &tj); err != nil {
					b.Fatal(err)
				}
				rt = tj.RefreshToken
			}
		})
	}
}
