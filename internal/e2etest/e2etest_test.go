package e2etest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPostForm: the client id and secret go form-urlencoded into Basic
// (RFC 6749 §2.3.1), the form is the body, and an error answer's code is
// read.
func TestPostForm(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if id != url.QueryEscape("a:b c") || secret != url.QueryEscape("s&t") || r.PostForm.Get("grant_type") != "password" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"invalid_client","got":%q}`, id+" "+secret)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant"}`)
	}))
	defer srv.Close()
	r, err := PostForm(NewHTTPClient(10*time.Second), srv.URL+"/token", "a:b c", "s&t", PasswordForm("u", "p"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusBadRequest || r.ErrCode != "invalid_grant" || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("reply = %d %q %s", r.Status, r.ErrCode, r.Body)
	}
}

func TestActive(t *testing.T) {
	tests := []struct {
		name string
		r    Reply
		want bool
	}{
		{"active", Reply{Status: http.StatusOK, Body: []byte(`{"active":true}`)}, true},
		{"inactive", Reply{Status: http.StatusOK, Body: []byte(`{"active":false}`)}, false},
		{"not a 200", Reply{Status: http.StatusUnauthorized, Body: []byte(`{"active":true}`)}, false},
		{"not JSON", Reply{Status: http.StatusOK, Body: []byte(`active`)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Active(tt.r); got != tt.want {
				t.Errorf("Active = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRevokeForm(t *testing.T) {
	if got := RevokeForm("t", "").Encode(); got != "token=t" {
		t.Errorf("no hint: %s", got)
	}
	if got := RevokeForm("t", "refresh_token").Encode(); got != "token=t&token_type_hint=refresh_token" {
		t.Errorf("hint: %s", got)
	}
}

func TestIsTimeout(t *testing.T) {
	if !IsTimeout(context.DeadlineExceeded) || !IsTimeout(fmt.Errorf("post: %w", context.DeadlineExceeded)) {
		t.Error("a deadline is a timeout")
	}
	if IsTimeout(context.Canceled) {
		t.Error("a cancellation is no timeout")
	}
}

// TestWaitUntil: true as soon as cond holds; false once the bound passed
// without it.
func TestWaitUntil(t *testing.T) {
	n := 0
	if !WaitUntil(time.Minute, time.Millisecond, func() bool { n++; return n == 3 }) || n != 3 {
		t.Errorf("WaitUntil returned after %d calls, want true after 3", n)
	}
	if WaitUntil(0, time.Millisecond, func() bool { return false }) {
		t.Error("WaitUntil held a condition that never held")
	}
}

// TestSyncBufferConcurrentWrites: run with -race.
func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprint(&b, "x")
			_ = b.String()
		}()
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 20) {
		t.Errorf("buffer = %q", got)
	}
}
