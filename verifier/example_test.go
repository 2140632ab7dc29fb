package verifier_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/tokenserver/tokenserver/verifier"
)

// Protect a route: tokens must come from the issuer, be meant for this API
// (aud) and carry the scope "read". Failures are RFC 6750 challenges.
func ExampleMiddleware() {
	issuer := startIssuer() // a real token server on the in-memory store (see example_helpers_test.go)
	defer issuer.Close()

	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer:   issuer.URL, // e.g. https://auth.example.com; discovery finds the JWKS
		Audience: "https://api.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", verifier.ClaimsFromContext(r.Context()).Username)
	})
	api := httptest.NewServer(verifier.Middleware(v, "read")(hello))
	defer api.Close()

	fmt.Println(get(api.URL, issuer.token("my-app", "read")))
	fmt.Println(get(api.URL, issuer.token("my-app", "write")))
	fmt.Println(get(api.URL, issuer.token("other-app", "read"))) // issued for another API
	fmt.Println(get(api.URL, ""))
	// Output:
	// 200 hello alice
	// 403 Bearer realm="https://api.example.com", error="insufficient_scope", error_description="The access token lacks a required scope", scope="read"
	// 401 Bearer realm="https://api.example.com", error="invalid_token", error_description="audience mismatch: token aud [https://other.example.com] does not include https://api.example.com"
	// 401 Bearer realm="https://api.example.com"
}

// Push revocation over server-sent events: the verifier keeps the issuer's
// denylist in memory, fed by GET /revocations/stream, which it reads as its
// own confidential client ("api"). A revoked token is refused as soon as the
// revocation arrives, with no call to the issuer per request.
func ExampleNewPush() {
	issuer := startIssuer()
	defer issuer.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop() // ends the stream

	push, err := verifier.NewPush(ctx, verifier.PushConfig{
		Source: verifier.SSESource(issuer.URL, "api", apiSecret, nil),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := push.Ready(ctx); err != nil { // the first snapshot has arrived
		log.Fatal(err)
	}
	v, err := verifier.New(ctx, verifier.Config{
		Issuer:     issuer.URL,
		Audience:   "https://api.example.com",
		Revocation: push,
	})
	if err != nil {
		log.Fatal(err)
	}

	token := issuer.token("my-app", "read")
	_, err = v.Verify(ctx, token)
	fmt.Println("before:", err)

	issuer.revoke("my-app", token)                     // POST /revoke (RFC 7009)
	eventually(func() bool { return push.Len() == 1 }) // the stream's `event: revoke` arrived
	_, err = v.Verify(ctx, token)
	fmt.Println("after: ", err)
	// Output:
	// before: <nil>
	// after:  verifier: invalid token: revoked
}

// Introspection asks the issuer (RFC 7662) about every token it has not
// seen within the cache TTL, as the resource server's own client ("api").
// Use it where the revocation stream cannot be reached.
func ExampleNewIntrospection() {
	issuer := startIssuer()
	defer issuer.Close()
	ctx := context.Background()

	md, err := verifier.Discover(ctx, nil, issuer.URL, false) // shared by both
	if err != nil {
		log.Fatal(err)
	}
	in, err := verifier.NewIntrospection(verifier.IntrospectionConfig{
		Endpoint:     md.IntrospectionEndpoint,
		ClientID:     "api",
		ClientSecret: apiSecret,
		// An active answer is reused for CacheTTL (default 5 s): a token
		// revoked after this server saw it is refused within that time.
	})
	if err != nil {
		log.Fatal(err)
	}
	v, err := verifier.New(ctx, verifier.Config{
		Issuer:     issuer.URL,
		Audience:   "https://api.example.com",
		Metadata:   md,
		Revocation: in,
	})
	if err != nil {
		log.Fatal(err)
	}

	good := issuer.token("my-app", "read")
	_, err = v.Verify(ctx, good)
	fmt.Println("active: ", err)

	stolen := issuer.token("my-app", "read")
	issuer.revoke("my-app", stolen)
	_, err = v.Verify(ctx, stolen)
	fmt.Println("revoked:", err)
	// Output:
	// active:  <nil>
	// revoked: verifier: invalid token: revoked
}
