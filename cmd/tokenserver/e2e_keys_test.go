package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jwks fetches the JWKS body and ETag.
func jwks(t *testing.T, baseURL string) (string, string) {
	t.Helper()
	resp, err := http.Get(baseURL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), resp.Header.Get("ETag")
}

func jwksKids(t *testing.T, body string) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestKeysFromPEMFiles: with --signing-key-file the server signs with that
// key and publishes it (and any next/retired keys) in the JWKS.
func TestKeysFromPEMFiles(t *testing.T) {
	dir := t.TempDir()
	writeKey := func(name string) string {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := startServer(t, map[string]string{
		"TOKENSERVER_SIGNING_KEY_FILE":  writeKey("current.pem"),
		"TOKENSERVER_RETIRED_KEY_FILES": writeKey("old.pem"),
	})
	body, _ := jwks(t, s.URL)
	if kids := jwksKids(t, body); len(kids) != 2 {
		t.Fatalf("JWKS has %d keys, want current + retired: %s", len(kids), body)
	}
	checkPasswordAndRefresh(t, s, "demo-client", "demo-secret", "demo", "demo-password")

	if out, err := runCLI(t, map[string]string{"TOKENSERVER_ADDR": freeAddr(t), "TOKENSERVER_SIGNING_KEY_FILE": filepath.Join(dir, "missing.pem")}, "", "serve"); err == nil ||
		!strings.Contains(err.Error(), "TOKENSERVER_SIGNING_KEY_FILE") {
		t.Errorf("missing key file: err %v, output %s", err, out)
	}
}

// TestKeyRotationAcrossInstances: two servers on one database; an emergency
// rotation through the CLI reaches both within seconds (LISTEN/NOTIFY), both
// then serve byte-identical JWKS with a new ETag, and a token signed by the
// emergency-retired key is no longer accepted anywhere.
func TestKeyRotationAcrossInstances(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	mustRunCLI(t, env, "pw-of-zoe\n", "user", "add", "zoe")

	// Instances of one deployment share the issuer (each defaults to its own address).
	env["TOKENSERVER_ISSUER"] = "https://auth.example.test"
	a := startServer(t, env)
	b := startServer(t, env)
	bodyA, etagA := jwks(t, a.URL)
	bodyB, etagB := jwks(t, b.URL)
	if bodyA != bodyB || etagA != etagB || etagA == "" {
		t.Fatalf("instances disagree on the JWKS:\n%s %s\n%s %s", etagA, bodyA, etagB, bodyB)
	}
	tok, err := a.oauth2Config("app", secret, "read").PasswordCredentialsToken(context.Background(), "zoe", "pw-of-zoe")
	if err != nil {
		t.Fatal(err)
	}
	if !introspectActive(t, b, "app", secret, tok.AccessToken) {
		t.Fatal("token inactive before rotation")
	}

	list := mustRunCLI(t, env, "", "keys", "list")
	if !strings.Contains(list, "current") || !strings.Contains(list, "next") {
		t.Fatalf("keys list:\n%s", list)
	}
	mustRunCLI(t, env, "", "keys", "rotate", "--now")

	deadline := time.Now().Add(5 * time.Second)
	for {
		newA, newEtagA := jwks(t, a.URL)
		newB, newEtagB := jwks(t, b.URL)
		if newEtagA != etagA && newA == newB && newEtagA == newEtagB {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation not seen by both instances within 5s:\nA %s %s\nB %s %s", newEtagA, newA, newEtagB, newB)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if introspectActive(t, a, "app", secret, tok.AccessToken) || introspectActive(t, b, "app", secret, tok.AccessToken) {
		t.Error("a token signed by the emergency-retired key is still active")
	}
	if _, err := a.oauth2Config("app", secret, "read").PasswordCredentialsToken(context.Background(), "zoe", "pw-of-zoe"); err != nil {
		t.Errorf("login after rotation: %v", err)
	}
}

// TestWrongKEKFailsStartup: keys sealed under one KEK cannot be opened with
// another; the server refuses to start and says which setting is wrong.
func TestWrongKEKFailsStartup(t *testing.T) {
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	s := startServer(t, env)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	env["TOKENSERVER_KEK"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	env["TOKENSERVER_ADDR"] = freeAddr(t)
	out, err := runCLI(t, env, "", "serve")
	if err == nil || !strings.Contains(err.Error(), "TOKENSERVER_KEK") || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("start with a wrong KEK: err %v\n%s", err, out)
	}
}
