package main

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace collector in the test: it keeps every
// span exported to it, with its resource's attributes.
type otlpReceiver struct {
	URL string

	mu       sync.Mutex
	spans    []*tracepb.Span
	resource []*commonpb.KeyValue
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		for _, rs := range req.ResourceSpans {
			rcv.resource = rs.GetResource().GetAttributes()
			for _, ss := range rs.ScopeSpans {
				rcv.spans = append(rcv.spans, ss.Spans...)
			}
		}
		rcv.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	rcv.URL = srv.URL
	return rcv
}

func (rcv *otlpReceiver) all() ([]*tracepb.Span, []*commonpb.KeyValue) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return slices.Clone(rcv.spans), rcv.resource
}

// traceTree returns "parent > child" for the spans of one trace, with
// "caller" for the caller's span and the store spans as
// "<db.system> <operation>".
func traceTree(spans []*tracepb.Span, traceID, callerSpanID string) []string {
	names := map[string]string{callerSpanID: "caller"}
	var mine []*tracepb.Span
	for _, s := range spans {
		if hex.EncodeToString(s.TraceId) == traceID {
			mine = append(mine, s)
			names[hex.EncodeToString(s.SpanId)] = spanLabel(s)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range mine {
		e := names[hex.EncodeToString(s.ParentSpanId)] + " > " + spanLabel(s)
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

func spanLabel(s *tracepb.Span) string {
	for _, kv := range s.Attributes {
		if kv.Key == "db.system" {
			return kv.Value.GetStringValue()
		}
	}
	return s.Name
}

// postToken sends a token request as a traced caller would.
func postToken(t *testing.T, s *server, traceparent, clientID, secret string, form url.Values) map[string]string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("traceparent", traceparent)
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: status %d: %s\nserver log:\n%s", resp.StatusCode, raw, s.stderr.String())
	}
	return body
}

// TestTracesOnProductionStores: with OTEL_EXPORTER_OTLP_ENDPOINT set, a
// password grant and a refresh on PostgreSQL and Redis reach the collector
// when the server stops, each as the tree HTTP server span → grant span →
// store and hashing/signing spans, under the caller's traceparent; and no
// span or resource attribute holds the username, password, client secret
// or a token.
func TestTracesOnProductionStores(t *testing.T) {
	rcv := startOTLPReceiver(t)
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	const username, password = "alice", "correct horse battery staple"
	mustRunCLI(t, env, password+"\n", "user", "add", username)

	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = rcv.URL
	s := startServer(t, env)
	const (
		loginTrace, loginCaller     = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
		refreshTrace, refreshCaller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	)
	login := postToken(t, s, "00-"+loginTrace+"-"+loginCaller+"-01", "app", secret,
		url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}})
	next := postToken(t, s, "00-"+refreshTrace+"-"+refreshCaller+"-01", "app", secret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {login["refresh_token"]}})
	// Shutdown flushes the batch: every span is at the collector when
	// run returns.
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	spans, resource := rcv.all()

	loginTree := traceTree(spans, loginTrace, loginCaller)
	for _, want := range []string{
		"caller > POST /token",
		"POST /token > grant password",
		"grant password > postgresql",
		"grant password > redis",
		"grant password > password queue wait",
		"grant password > password hash",
		"grant password > sign access token",
	} {
		if !slices.Contains(loginTree, want) {
			t.Errorf("password grant trace lacks %q:\n%s", want, strings.Join(loginTree, "\n"))
		}
	}
	refreshTree := traceTree(spans, refreshTrace, refreshCaller)
	for _, want := range []string{
		"caller > POST /token",
		"POST /token > grant refresh_token",
		"grant refresh_token > postgresql",
		"grant refresh_token > sign access token",
	} {
		if !slices.Contains(refreshTree, want) {
			t.Errorf("refresh trace lacks %q:\n%s", want, strings.Join(refreshTree, "\n"))
		}
	}
	if slices.ContainsFunc(refreshTree, func(e string) bool { return strings.Contains(e, "password") }) {
		t.Errorf("refresh trace hashes a password:\n%s", strings.Join(refreshTree, "\n"))
	}

	var service string
	for _, kv := range resource {
		if kv.Key == "service.name" {
			service = kv.Value.GetStringValue()
		}
	}
	if service != "tokenserver" {
		t.Errorf("service.name = %q, want tokenserver", service)
	}

	secrets := []string{username, password, secret, login["access_token"], login["refresh_token"],
		next["access_token"], next["refresh_token"]}
	texts := func(kvs []*commonpb.KeyValue) []string {
		var out []string
		for _, kv := range kvs {
			out = append(out, kv.Key, kv.Value.String())
		}
		return out
	}
	all := texts(resource)
	for _, sp := range spans {
		all = append(all, sp.Name, sp.GetStatus().GetMessage())
		all = append(all, texts(sp.Attributes)...)
		for _, ev := range sp.Events {
			all = append(all, ev.Name)
			all = append(all, texts(ev.Attributes)...)
		}
	}
	for _, text := range all {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("a span holds %q in %q", secret, text)
			}
		}
	}
}
