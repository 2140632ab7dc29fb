package tokenserver

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/audit"
	"github.com/tokenserver/tokenserver/audit/audittest"
	"github.com/tokenserver/tokenserver/store"
)

// withAudit records the server's audit events (and the default session
// service's, which the server builds with the same sink).
func withAudit(rec *audittest.Recorder, reasons bool) func(*harness, *Config) {
	return func(_ *harness, c *Config) {
		c.Audit = rec
		c.AuditReasons = reasons
	}
}

// testIP is httptest.NewRequest's RemoteAddr host.
const testIP = "192.0.2.1"

// checkEvents compares events with want after checking that each carries
// the server's clock and blanking what is random (family ids are checked
// to be present where want has "*").
func checkEvents(t *testing.T, h *harness, got, want []audit.Event) {
	t.Helper()
	for i := range got {
		if !got[i].Time.Equal(h.clock.Now()) {
			t.Errorf("event %d: time %v, want the server clock", i, got[i].Time)
		}
		got[i].Time = time.Time{}
		if i < len(want) && want[i].FamilyID == "*" {
			if got[i].FamilyID == "" {
				t.Errorf("event %d (%s): family id missing", i, got[i].Type)
			}
			got[i].FamilyID = "*"
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %+v\nwant %+v", got, want)
	}
}

// assertNoSecrets renders events as the audit log would and checks that no
// secret, password, token or username (the given ones and the harness's) is
// in it.
func assertNoSecrets(t *testing.T, events []audit.Event, secrets ...string) {
	t.Helper()
	audittest.AssertNoSecrets(t, events,
		append(secrets, aliceName, alicePassword, bobName, bobPassword, webSecret, mobileSecret)...)
}

func TestAuditLoginSucceeded(t *testing.T) {
	rec := &audittest.Recorder{}
	h := newHarness(t, withAudit(rec, false))
	tj := h.login("")
	got := rec.Take()
	checkEvents(t, h, got, []audit.Event{
		{Type: audit.LoginSucceeded, ClientID: webID, Subject: aliceID, ClientIP: testIP, FamilyID: "*"},
	})
	assertNoSecrets(t, got, tj.AccessToken, tj.RefreshToken)
}

func TestAuditLoginSucceededWithoutSession(t *testing.T) {
	rec := &audittest.Recorder{}
	h := newHarness(t, withAudit(rec, false))
	h.mustToken(h.token(formBody("grant_type", "password", "username", aliceName, "password", alicePassword),
		withBasic(batchID, batchSecret)))
	checkEvents(t, h, rec.Take(), []audit.Event{
		{Type: audit.LoginSucceeded, ClientID: batchID, Subject: aliceID, ClientIP: testIP},
	})
}

func TestAuditLoginFailed(t *testing.T) {
	tests := []struct {
		name     string
		reasons  bool
		username string
		password string
		want     audit.Event
	}{
		{"unknown user", false, "nobody", "whatever-password", audit.Event{Reason: audit.ReasonInvalidCredentials}},
		{"wrong password", false, aliceName, "wrong-password", audit.Event{Reason: audit.ReasonInvalidCredentials}},
		{"disabled", false, bobName, bobPassword, audit.Event{Reason: audit.ReasonInvalidCredentials}},
		{"unknown user, reasons on", true, "nobody", "whatever-password", audit.Event{Reason: audit.ReasonUnknownUser}},
		{"wrong password, reasons on", true, aliceName, "wrong-password",
			audit.Event{Reason: audit.ReasonWrongPassword, Subject: aliceID}},
		{"disabled, reasons on", true, bobName, bobPassword, audit.Event{Reason: audit.ReasonDisabled, Subject: bobID}},
		{"too long, reasons on", true, aliceName, strings.Repeat("x", 2048), audit.Event{Reason: audit.ReasonInvalidCredentials}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &audittest.Recorder{}
			h := newHarness(t, withAudit(rec, tt.reasons))
			resp := h.token(formBody("grant_type", "password", "username", tt.username, "password", tt.password),
				withBasic(webID, webSecret))
			assertOAuthError(t, resp, http.StatusBadRequest, CodeInvalidGrant)
			want := tt.want
			want.Type, want.ClientID, want.ClientIP = audit.LoginFailed, webID, testIP
			got := rec.Take()
			checkEvents(t, h, got, []audit.Event{want})
			assertNoSecrets(t, got, tt.username, tt.password)
		})
	}
}

func TestAuditLoginThrottled(t *testing.T) {
	fail := func(h *harness, user string) *httptest.ResponseRecorder {
		return h.token(formBody("grant_type", "password", "username", user, "password", "wrong-password"),
			withBasic(webID, webSecret))
	}
	t.Run("per user", func(t *testing.T) {
		rec := &audittest.Recorder{}
		h := newHarness(t, withAudit(rec, false), func(_ *harness, c *Config) {
			c.ThrottleLimits = ThrottleLimits{UserFailures: 1, IPFailures: 3, Window: time.Minute}
		})
		fail(h, aliceName)
		rec.Take()
		resp := fail(h, aliceName)
		assertOAuthError(t, resp, http.StatusTooManyRequests, CodeTemporarilyUnavailable)
		got := rec.Take()
		checkEvents(t, h, got, []audit.Event{{Type: audit.LoginThrottled, ClientID: webID, ClientIP: testIP, Limit: audit.LimitUser}})
		assertNoSecrets(t, got)
		// The probe that told the limits apart gave its IP count back:
		// two more users may still fail before the IP limit (3) refuses.
		for _, u := range []string{"x", "y"} {
			assertOAuthError(t, fail(h, u), http.StatusBadRequest, CodeInvalidGrant)
		}
		rec.Take()
		assertOAuthError(t, fail(h, "z"), http.StatusTooManyRequests, CodeTemporarilyUnavailable)
		checkEvents(t, h, rec.Take(), []audit.Event{{Type: audit.LoginThrottled, ClientID: webID, ClientIP: testIP, Limit: audit.LimitIP}})
	})
	t.Run("per IP", func(t *testing.T) {
		rec := &audittest.Recorder{}
		h := newHarness(t, withAudit(rec, false), func(_ *harness, c *Config) {
			c.ThrottleLimits = ThrottleLimits{UserFailures: 5, IPFailures: 1, Window: time.Minute}
		})
		fail(h, aliceName)
		rec.Take()
		assertOAuthError(t, fail(h, "someone-else"), http.StatusTooManyRequests, CodeTemporarilyUnavailable)
		checkEvents(t, h, rec.Take(), []audit.Event{{Type: audit.LoginThrottled, ClientID: webID, ClientIP: testIP, Limit: audit.LimitIP}})
	})
}

func TestAuditTokenRefreshed(t *testing.T) {
	rec := &audittest.Recorder{}
	h := newHarness(t, withAudit(rec, false))
	first := h.login("")
	rec.Take()
	second := h.mustToken(h.refresh(first.RefreshToken))
	got := rec.Take()
	checkEvents(t, h, got, []audit.Event{
		{Type: audit.TokenRefreshed, ClientID: webID, Subject: aliceID, ClientIP: testIP, FamilyID: "*"},
	})
	assertNoSecrets(t, got, first.RefreshToken, second.RefreshToken, second.AccessToken)
}

func TestAuditRefreshReuseDetected(t *testing.T) {
	rec := &audittest.Recorder{}
	h := newHarness(t, withAudit(rec, false))
	first := h.login("")
	h.mustToken(h.refresh(first.RefreshToken))
	rec.Take()
	assertOAuthError(t, h.refresh(first.RefreshToken), http.StatusBadRequest, CodeInvalidGrant)
	got := rec.Take()
	checkEvents(t, h, got, []audit.Event{
		{Type: audit.RefreshReuseDetected, ClientID: webID, Subject: aliceID, ClientIP: testIP, FamilyID: "*"},
		{Type: audit.SessionRevoked, FamilyID: "*", Cause: audit.CauseReuse},
	})
	if got[0].FamilyID != got[1].FamilyID {
		t.Errorf("reuse names family %q, the revocation %q", got[0].FamilyID, got[1].FamilyID)
	}
	assertNoSecrets(t, got, first.RefreshToken)
}

func TestAuditClientCredentialsIssued(t *testing.T) {
	const svcID, svcSecret = "svc", "svc-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	rec := &audittest.Recorder{}
	h := newHarness(t, withAudit(rec, false))
	if err := h.mem.CreateClient(t.Context(), store.Client{ID: svcID, SecretHash: HashClientSecret(svcSecret),
		Grants: []string{grantClientCredentials}, Scopes: []string{"read"}, CreatedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	tj := h.mustToken(h.token(formBody("grant_type", "client_credentials"), withBasic(svcID, svcSecret)))
	got := rec.Take()
	checkEvents(t, h, got, []audit.Event{{Type: audit.ClientCredentialsIssued, ClientID: svcID, ClientIP: testIP}})
	assertNoSecrets(t, got, svcSecret, tj.AccessToken)
}

func TestAuditClientAuthFailed(t *testing.T) {
	login := []string{"grant_type", "password", "username", aliceName, "password", alicePassword}
	tests := []struct {
		name   string
		path   string
		body   string
		opts   []reqOption
		status int
		code   string
		want   audit.Event
	}{
		{"unknown client: its id is not reported", "/token", formBody(login...),
			[]reqOption{withBasic("attacker-chosen-id", "s3cret-guess")}, http.StatusUnauthorized, CodeInvalidClient,
			audit.Event{Reason: audit.ReasonUnknownClient}},
		{"bad secret", "/token", formBody(login...), []reqOption{withBasic(webID, "s3cret-guess")},
			http.StatusUnauthorized, CodeInvalidClient, audit.Event{ClientID: webID, Reason: audit.ReasonBadSecret}},
		{"missing secret", "/token", formBody(append(login, "client_id", webID)...), nil,
			http.StatusBadRequest, CodeInvalidClient, audit.Event{ClientID: webID, Reason: audit.ReasonMissingSecret}},
		{"public client with a secret", "/token", formBody(append(login, "client_id", cliID, "client_secret", "s3cret-guess")...), nil,
			http.StatusBadRequest, CodeInvalidClient, audit.Event{ClientID: cliID, Reason: audit.ReasonUnexpectedSecret}},
		{"no credentials", "/token", formBody(login...), nil,
			http.StatusBadRequest, CodeInvalidClient, audit.Event{Reason: audit.ReasonNoCredentials}},
		{"unsupported scheme", "/token", formBody(login...), []reqOption{withHeader("Authorization", "Bearer s3cret-guess")},
			http.StatusUnauthorized, CodeInvalidClient, audit.Event{Reason: audit.ReasonUnsupportedScheme}},
		{"public client at introspection", "/introspect", formBody("token", "x", "client_id", cliID), nil,
			http.StatusBadRequest, CodeInvalidClient, audit.Event{ClientID: cliID, Reason: audit.ReasonPublicClient}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &audittest.Recorder{}
			h := newHarness(t, withAudit(rec, false))
			resp := h.do(http.MethodPost, tt.path, tt.body, tt.opts...)
			assertOAuthError(t, resp, tt.status, tt.code)
			want := tt.want
			want.Type, want.ClientIP = audit.ClientAuthFailed, testIP
			got := rec.Take()
			checkEvents(t, h, got, []audit.Event{want})
			assertNoSecrets(t, got, "s3cret-guess", "attacker-chosen-id")
		})
	}
}

func TestAuditTokenRevoked(t *testing.T) {
	t.Run("access token", func(t *testing.T) {
		rec := &audittest.Recorder{}
		h := newHarness(t, withAudit(rec, false))
		tj := h.login("")
		rec.Take()
		resp := h.do(http.MethodPost, "/revoke", formBody("token", tj.AccessToken), withBasic(webID, webSecret))
		if resp.Code != http.StatusOK {
			t.Fatalf("status %d: %s", resp.Code, resp.Body)
		}
		got := rec.Take()
		checkEvents(t, h, got, []audit.Event{
			{Type: audit.TokenRevoked, ClientID: webID, Subject: aliceID, FamilyID: "*", Kind: audit.KindAccess},
		})
		assertNoSecrets(t, got, tj.AccessToken, tj.RefreshToken)
	})
	t.Run("refresh token", func(t *testing.T) {
		rec := &audittest.Recorder{}
		h := newHarness(t, withAudit(rec, false))
		tj := h.login("")
		rec.Take()
		resp := h.do(http.MethodPost, "/revoke", formBody("token", tj.RefreshToken), withBasic(webID, webSecret))
		if resp.Code != http.StatusOK {
			t.Fatalf("status %d: %s", resp.Code, resp.Body)
		}
		got := rec.Take()
		checkEvents(t, h, got, []audit.Event{
			{Type: audit.SessionRevoked, FamilyID: "*", Cause: audit.CauseRevoke},
			{Type: audit.TokenRevoked, ClientID: webID, Subject: aliceID, FamilyID: "*", Kind: audit.KindRefresh},
		})
		assertNoSecrets(t, got, tj.AccessToken, tj.RefreshToken)
	})
	t.Run("another client's token: nothing revoked, no event", func(t *testing.T) {
		rec := &audittest.Recorder{}
		h := newHarness(t, withAudit(rec, false))
		tj := h.login("")
		rec.Take()
		resp := h.do(http.MethodPost, "/revoke", formBody("token", tj.RefreshToken), withBasic(mobileID, mobileSecret))
		if resp.Code != http.StatusOK {
			t.Fatalf("status %d: %s", resp.Code, resp.Body)
		}
		if got := rec.Take(); len(got) != 0 {
			t.Errorf("events = %+v, want none", got)
		}
	})
}
