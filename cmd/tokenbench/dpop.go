package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/tokenserver/tokenserver/dpop"
	"github.com/tokenserver/tokenserver/verifier"
)

// DPoP (RFC 9449) costs one proof signature verification on each side. The
// DPoP phases measure it against the Bearer path (the same grant without a
// proof) in units of one bare ES256 verification (calibration.ES256Verify):
// target at most 1.1.

// dpopClientID is the public client the DPoP phases use (a public client
// binds its refresh tokens to the proof's key, RFC 9449 §5).
const dpopClientID = "bench-dpop"

// dpopKey is a client key pair and the proofs it signs.
type dpopKey struct{ priv *ecdsa.PrivateKey }

func newDPoPKey() (*dpopKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tokenbench: DPoP key: %w", err)
	}
	return &dpopKey{priv: k}, nil
}

func (k *dpopKey) proof(method, u, accessToken string) (string, error) {
	return dpop.NewProof(k.priv, "", dpop.ProofClaims{Method: method, URL: u, AccessToken: accessToken})
}

// calibrateES256Verify measures one bare ES256 verification (SHA-256 of a
// token-sized input and crypto/ecdsa on the signature) on one core: the
// unit of DPoP's cost.
func calibrateES256Verify(ctx context.Context, cal *calibration, d time.Duration) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	input := make([]byte, 600)
	digest := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
	if err != nil {
		return err
	}
	rate, err := measureRate(ctx, 1, d/2, func() error {
		h := sha256.Sum256(input)
		if !ecdsa.VerifyASN1(&k.PublicKey, h[:], sig) {
			return fmt.Errorf("tokenbench: ES256 calibration signature did not verify")
		}
		return nil
	})
	if err != nil {
		return err
	}
	cal.ES256Verify.OneCorePerS = rate
	cal.ES256Verify.CostUS = 1e6 / rate
	return nil
}

// dpopGrant posts a token request of the public DPoP client with a fresh
// proof by key.
func (b *bench) dpopGrant(ctx context.Context, h *http.Client, key *dpopKey, form string) (int, tokenResponse, error) {
	u := b.env.baseURL + "/token"
	proof, err := key.proof(http.MethodPost, u, "")
	if err != nil {
		return 0, tokenResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form+"&client_id="+dpopClientID))
	if err != nil {
		return 0, tokenResponse{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(dpop.HeaderName, proof)
	resp, err := h.Do(req)
	if err != nil {
		return 0, tokenResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp.StatusCode, tokenResponse{}, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return 0, tr, fmt.Errorf("tokenbench: malformed DPoP token response: %.200s", body)
	}
	return resp.StatusCode, tr, nil
}

// dpopChain is a DPoP-bound session: its key and its one live refresh token.
type dpopChain struct {
	key     *dpopKey
	refresh string
}

// dpopPhases runs the DPoP password grant, makes bound sessions and runs
// the DPoP refresh grant, then the verifier comparison.
func (b *bench) dpopPhases(ctx context.Context) error {
	h := newHTTPClient(b.o.concurrency + 32)
	defer h.CloseIdleConnections()
	key, err := newDPoPKey()
	if err != nil {
		return err
	}
	var bound []string
	r, err := b.closedPhase(ctx, b.env.server.pid(), "dpop password grant", 2*b.o.hashSlots, func(ctx context.Context, _, i int) (int, error) {
		status, _, err := b.dpopGrant(ctx, h, key, b.forms[i%len(b.forms)])
		return status, err
	})
	b.phases = append(b.phases, r)
	if err != nil {
		return err
	}
	// Bound sessions, one key each (not measured).
	n := b.o.concurrency + 32
	chains := make(chan dpopChain, n)
	for i := 0; len(chains) < n && i < 20*n && ctx.Err() == nil; i++ {
		k, err := newDPoPKey()
		if err != nil {
			return err
		}
		status, tr, err := b.dpopGrant(ctx, h, k, b.forms[i%len(b.forms)])
		switch {
		case err == nil && status == http.StatusOK:
			chains <- dpopChain{key: k, refresh: tr.RefreshToken}
			if len(bound) < 64 {
				bound = append(bound, tr.AccessToken)
			}
		case isRejected(status):
			time.Sleep(b.queueTimeout)
		}
	}
	if len(chains) < n {
		return fmt.Errorf("tokenbench: only %d of %d DPoP sessions", len(chains), n)
	}
	r, err = b.closedPhase(ctx, b.env.server.pid(), "dpop refresh grant", b.o.concurrency, func(ctx context.Context, _, _ int) (int, error) {
		var c dpopChain
		select {
		case c = <-chains:
		default:
			return 0, errStopWorker
		}
		status, tr, err := b.dpopGrant(ctx, h, c.key, "grant_type=refresh_token&refresh_token="+url.QueryEscape(c.refresh))
		if err != nil || status != http.StatusOK {
			return status, err // the chain is dropped: its token may be consumed
		}
		chains <- dpopChain{key: c.key, refresh: tr.RefreshToken}
		return status, nil
	})
	b.phases = append(b.phases, r)
	if err != nil {
		return err
	}
	if len(bound) == 0 {
		return fmt.Errorf("tokenbench: no DPoP-bound access token for the verifier phase")
	}
	v, err := b.verifierPhase(ctx, chainKeyOf(bound[0], chains), bound[0])
	if err != nil {
		return err
	}
	b.dpopVerifier = v
	return nil
}

// chainKeyOf returns the key whose session issued access token tok; the
// sessions were made with one key each and kept with it.
func chainKeyOf(tok string, chains chan dpopChain) *dpopKey {
	want := jktOf(tok)
	n := len(chains)
	var found *dpopKey
	for range n {
		c := <-chains
		if jkt, _ := dpop.Thumbprint(c.key.priv.Public()); jkt == want {
			found = c.key
		}
		chains <- c
	}
	return found
}

// jwtClaims decodes the claims of a JWS (unverified: to read aud and cnf
// of tokens this run was issued).
func jwtClaims(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func jktOf(tok string) string {
	cnf, _ := jwtClaims(tok)["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// verifierResult is the resource server's cost per request, in this
// process, of the verifier middleware with a Bearer token and with a
// DPoP-bound token and its proof, beside one bare ES256 verification
// measured in the same loop. CPU is the thread's own (CLOCK_THREAD_CPUTIME_ID),
// so time other processes take is not counted.
type verifierResult struct {
	Requests         int     `json:"requests"`
	BearerCPUUS      float64 `json:"bearer_cpu_us"`
	DPoPCPUUS        float64 `json:"dpop_cpu_us"`
	ES256VerifyCPUUS float64 `json:"es256_verify_cpu_us"`
	BearerAllocs     float64 `json:"bearer_allocs"`
	DPoPAllocs       float64 `json:"dpop_allocs"`
	ExtraPerES256    float64 `json:"dpop_extra_per_es256_verify"`
	DPoPReplayCache  string  `json:"dpop_replay_cache"`
}

// verifierPhase runs Bearer, DPoP and a bare ES256 verification in turn
// on one locked thread for the phase's duration. Proofs are made in
// batches outside the timed sections.
func (b *bench) verifierPhase(ctx context.Context, key *dpopKey, bound string) (*verifierResult, error) {
	if key == nil {
		return nil, fmt.Errorf("tokenbench: the bound token's key is unknown")
	}
	bearer := ""
	for _, t := range b.sink.all() {
		if jktOf(t) == "" {
			bearer = t
			break
		}
	}
	if bearer == "" {
		return nil, fmt.Errorf("tokenbench: no bearer access token for the verifier phase")
	}
	aud := ""
	switch a := jwtClaims(bearer)["aud"].(type) {
	case string:
		aud = a
	case []any:
		if len(a) > 0 {
			aud, _ = a[0].(string)
		}
	}
	v, err := verifier.New(ctx, verifier.Config{Issuer: b.env.baseURL, Audience: aud})
	if err != nil {
		return nil, fmt.Errorf("tokenbench: verifier: %w", err)
	}
	h := verifier.Middleware(v)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	const resource = "http://127.0.0.1/resource"
	serve := func(auth, proof string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, resource, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", auth)
		if proof != "" {
			req.Header.Set(dpop.HeaderName, proof)
		}
		w := &discardWriter{header: http.Header{}}
		h.ServeHTTP(w, req)
		if w.status != 0 && w.status != http.StatusOK {
			return fmt.Errorf("tokenbench: verifier answered %d: %v", w.status, w.header)
		}
		return nil
	}
	// The same bare check as the calibration, on this thread.
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	input := []byte(bearer)
	d0 := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, k, d0[:])
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(b.log, "  %-22s 1 thread, %s\n", "verifier bearer/dpop", b.o.duration)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var bearerCPU, dpopCPU, sigCPU time.Duration
	var bearerAllocs, dpopAllocs uint64
	var ms runtime.MemStats
	allocs := func() uint64 { runtime.ReadMemStats(&ms); return ms.Mallocs }
	res := &verifierResult{DPoPReplayCache: "in-process (verifier default)"}
	deadline := time.Now().Add(b.o.duration)
	proofs := make([]string, 0, 256)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if len(proofs) == 0 {
			for range cap(proofs) {
				p, err := key.proof(http.MethodGet, resource, bound)
				if err != nil {
					return nil, err
				}
				proofs = append(proofs, p)
			}
		}
		// Allocation counts are read outside the timed sections.
		a0 := allocs()
		t0 := threadCPU()
		if err := serve("Bearer "+bearer, ""); err != nil {
			return nil, err
		}
		t1 := threadCPU()
		a1 := allocs()
		t1b := threadCPU()
		if err := serve("DPoP "+bound, proofs[len(proofs)-1]); err != nil {
			return nil, err
		}
		t2 := threadCPU()
		a2 := allocs()
		t2b := threadCPU()
		hsum := sha256.Sum256(input)
		if !ecdsa.VerifyASN1(&k.PublicKey, hsum[:], sig) {
			return nil, fmt.Errorf("tokenbench: ES256 signature did not verify")
		}
		t3 := threadCPU()
		proofs = proofs[:len(proofs)-1]
		bearerCPU += t1 - t0
		dpopCPU += t2 - t1b
		sigCPU += t3 - t2b
		// ReadMemStats itself allocates nothing; each count is one request's.
		bearerAllocs += a1 - a0
		dpopAllocs += a2 - a1
		res.Requests++
	}
	if res.Requests == 0 {
		return nil, ctx.Err()
	}
	n := float64(res.Requests)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / n }
	res.BearerCPUUS, res.DPoPCPUUS, res.ES256VerifyCPUUS = us(bearerCPU), us(dpopCPU), us(sigCPU)
	res.BearerAllocs, res.DPoPAllocs = float64(bearerAllocs)/n, float64(dpopAllocs)/n
	if res.ES256VerifyCPUUS > 0 {
		res.ExtraPerES256 = (res.DPoPCPUUS - res.BearerCPUUS) / res.ES256VerifyCPUUS
	}
	return res, nil
}

// discardWriter is the verifier phase's ResponseWriter.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// dpopFigures compares each DPoP path with its Bearer twin: the extra cost
// per request in units of one ES256 verification (target ≤ 1.1).
func (b *bench) dpopFigures() []figure {
	es := b.cal.ES256Verify.CostUS
	extra := func(dpopName, bearerName string) float64 {
		d, br := b.phase(dpopName), b.phase(bearerName)
		if d == nil || br == nil || d.Skipped != "" || br.Skipped != "" || d.OK == 0 {
			return math.NaN()
		}
		return d.ServerCPUPerRequestUS - br.ServerCPUPerRequestUS
	}
	vr := math.NaN()
	var vrFloor float64
	if v := b.dpopVerifier; v != nil {
		vr, vrFloor = v.DPoPCPUUS-v.BearerCPUUS, v.ES256VerifyCPUUS
	}
	return []figure{
		// A login's CPU is one argon2id hash (~25 ms) give or take
		// milliseconds: its DPoP share is below the noise, so for
		// information only.
		newFigure("DPoP password grant: extra server CPU", "µs", extra("dpop password grant", "password grant"), "ES256 verify", es, nil),
		newFigure("DPoP refresh grant: extra server CPU", "µs", extra("dpop refresh grant", "refresh grant"), "ES256 verify", es, atMost(1.1)),
		newFigure("DPoP verifier: extra CPU per request", "µs", vr, "ES256 verify, same loop", vrFloor, atMost(1.1)),
	}
}

// writeDPoPVerifier prints the verifier comparison.
func writeDPoPVerifier(w io.Writer, v *verifierResult) {
	if v == nil {
		return
	}
	fmt.Fprintf(w, "DPoP at the resource server (verifier middleware in this process, thread CPU, %d requests each):\n", v.Requests)
	fmt.Fprintf(w, "  Bearer %s µs (%s allocs), DPoP %s µs (%s allocs), one ES256 verify %s µs: DPoP costs %s ES256 verifications more\n\n",
		formatNumber(v.BearerCPUUS), formatNumber(v.BearerAllocs), formatNumber(v.DPoPCPUUS), formatNumber(v.DPoPAllocs),
		formatNumber(v.ES256VerifyCPUUS), formatNumber(v.ExtraPerES256))
}
