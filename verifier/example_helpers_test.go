package verifier_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/tokenserver/tokenserver/internal/issuertest"
)

// apiSecret is the secret of "api", the resource server's own client at
// the token server (for the revocation stream and introspection).
const apiSecret = "api-secret-0123456789abcdefghijklmnopqrstuvwxyz"

// exampleIssuer is a running token server for the examples.
type exampleIssuer struct{ *issuertest.Issuer }

// startIssuer starts a real token server (package tokenserver on the
// in-memory store) on a loopback port, registered as in the README's
// Production section:
//
//	tokenserver client add --generate-secret --scopes read,write --audience https://api.example.com my-app
//	tokenserver client add --generate-secret --scopes read,write --audience https://other.example.com other-app
//	tokenserver client add --generate-secret --grants '' api
//	tokenserver user add alice
func startIssuer() exampleIssuer {
	is, err := issuertest.Start(issuertest.Config{
		Clients: []issuertest.Client{
			{ID: "my-app", Secret: "my-app-secret-0123456789abcdefghijklmnopqrstuvwxyz",
				Scopes: []string{"read", "write"}, Audience: []string{"https://api.example.com"}},
			{ID: "other-app", Secret: "other-app-secret-0123456789abcdefghijklmnopqrstuvwxyz",
				Scopes: []string{"read", "write"}, Audience: []string{"https://other.example.com"}},
			{ID: "api", Secret: apiSecret, Grants: []string{}},
		},
		Users: []issuertest.User{{Name: "alice", Password: "alice-password"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	return exampleIssuer{is}
}

// token is alice's access token from clientID with scope.
func (is exampleIssuer) token(clientID, scope string) string {
	tok, err := is.Token(clientID, "alice", scope)
	if err != nil {
		log.Fatal(err)
	}
	return tok
}

// revoke revokes token as clientID.
func (is exampleIssuer) revoke(clientID, token string) {
	if err := is.Revoke(clientID, token); err != nil {
		log.Fatal(err)
	}
}

// get requests url with a bearer token (none if empty) and returns the
// status and the body, or the WWW-Authenticate challenge of a refusal.
func get(url, token string) string {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}

// eventually polls cond; a cond still false after 10 s is a hang, not a
// result, and stops the example.
func eventually(cond func() bool) {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			log.Fatal("eventually: condition not met within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
