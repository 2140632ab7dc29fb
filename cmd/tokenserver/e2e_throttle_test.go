package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// loginAnswer is one password grant's status, error code and the headers a
// throttled answer must carry.
type loginAnswer struct {
	status       int
	code         string
	retryAfter   string
	cacheControl string
}

func postLogin(s *server, secret, username, pw string) (loginAnswer, error) {
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {pw}}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return loginAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return loginAnswer{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return loginAnswer{status: resp.StatusCode, code: body.Error,
		retryAfter: resp.Header.Get("Retry-After"), cacheControl: resp.Header.Get("Cache-Control")}, nil
}

// TestConcurrentGuessesThrottled: 150 simultaneous wrong passwords for one
// user from one address, through a server on PostgreSQL and Redis. At most
// the per-user limit (5) are checked and answered invalid_grant; the rest
// are throttled. A guess refused by a busy hasher (503) is given back, so
// sequential guesses afterwards bring the total to exactly 5.
func TestConcurrentGuessesThrottled(t *testing.T) {
	const attempts, limit = 150, 5
	env := productionEnv(t)
	mustRunCLI(t, env, "", "migrate")
	secret := addClient(t, env, "--scopes", "read", "app")
	mustRunCLI(t, env, "correct horse battery staple\n", "user", "add", "alice")
	s := startServer(t, env)

	answers := make([]loginAnswer, attempts)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Go(func() {
			<-start
			a, err := postLogin(s, secret, "alice", fmt.Sprintf("guess-%d", i))
			if err != nil {
				t.Errorf("guess %d: %v", i, err)
			}
			answers[i] = a
		})
	}
	close(start)
	wg.Wait()

	counts := map[string]int{}
	for _, a := range answers {
		key := fmt.Sprintf("%d %s", a.status, a.code)
		counts[key]++
		switch key {
		case "400 invalid_grant":
		case "429 temporarily_unavailable", "503 temporarily_unavailable":
			if n, err := strconv.Atoi(a.retryAfter); err != nil || n < 1 {
				t.Errorf("%s with Retry-After %q, want a positive number of seconds", key, a.retryAfter)
			}
			if a.cacheControl != "no-store" {
				t.Errorf("%s with Cache-Control %q, want no-store", key, a.cacheControl)
			}
		default:
			t.Errorf("unexpected answer %s", key)
		}
	}
	t.Logf("answers to %d concurrent guesses: %v", attempts, counts)
	failed := counts["400 invalid_grant"]
	if failed > limit {
		t.Fatalf("%d concurrent guesses were checked (invalid_grant), limit %d", failed, limit)
	}
	// Guesses refused by a busy hasher were not counted: they are still
	// allowed, one at a time, up to the limit and not beyond.
	for range attempts {
		a, err := postLogin(s, secret, "alice", "one more guess")
		if err != nil {
			t.Fatal(err)
		}
		if a.status == http.StatusTooManyRequests {
			break
		}
		if a.status == http.StatusBadRequest {
			failed++
		}
	}
	if failed != limit {
		t.Errorf("%d guesses answered invalid_grant in all, want exactly %d", failed, limit)
	}
	if a, err := postLogin(s, secret, "alice", "correct horse battery staple"); err != nil || a.status != http.StatusTooManyRequests {
		t.Errorf("right password after %d failures: %+v, %v; want 429", limit, a, err)
	}
}
