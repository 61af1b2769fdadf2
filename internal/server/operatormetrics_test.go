package server_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/mailpit"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// value reads one series of /metrics as a number (0 when absent).
func value(t *testing.T, s *tolktest.Server, series string) float64 {
	t.Helper()
	m, _ := scrape(t, s)
	v, ok := m[series]
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s = %q", series, v)
	}
	return f
}

// moves runs event and checks that each series grew by its delta.
func moves(t *testing.T, s *tolktest.Server, event string, do func(), deltas map[string]float64) {
	t.Helper()
	before := map[string]float64{}
	for series := range deltas {
		before[series] = value(t, s, series)
	}
	do()
	for series, want := range deltas {
		if got := value(t, s, series) - before[series]; got != want {
			t.Errorf("%s: %s moved by %v, want %v", event, series, got, want)
		}
	}
}

// metricsClient registers a confidential app that may use client_credentials.
func metricsClient(t *testing.T, s *tolktest.Server) (id, secret string) {
	t.Helper()
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "metrics " + rand.Text()[:8], GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, sec
}

func tokenRequest(t *testing.T, s *tolktest.Server, id, sec, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, sec)
	resp, _ := s.Do(t, req)
	return resp.StatusCode
}

// TestOperatorMetricsMove: each metric an operator watches moves when its
// event happens, through the real endpoints (docs/operations.md,
// Monitoring), on SQLite and on PostgreSQL (whose rate limits live in the
// database).
func TestOperatorMetricsMove(t *testing.T) {
	t.Parallel()
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "sqlite", true: "postgres"}[pg]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			operatorMetricsMove(t, tolktest.New(t, tolktest.Options{Postgres: pg, Config: func(c *config.Config) { c.LoginUserBurst = 2 }}))
		})
	}
}

func operatorMetricsMove(t *testing.T, s *tolktest.Server) {
	id, sec := metricsClient(t, s)
	s.CreateUser(t, "bob", store.RoleLinguist, "bobs-password-123")

	moves(t, s, "client_credentials", func() {
		if code := tokenRequest(t, s, id, sec, "grant_type=client_credentials&scope=read"); code != http.StatusOK {
			t.Errorf("client_credentials: %d", code)
		}
	}, map[string]float64{
		`tolk_tokens_issued_total{dialect="oauth",grant="client_credentials"}`: 1,
		// A sealed token writes nothing; the app's cutoff is read once.
		`tolk_store_operation_duration_seconds_count{operation="AccessTokenCut"}`:                       1,
		`tolk_store_operation_duration_seconds_count{operation="CreateAccessToken"}`:                    0,
		`tolk_tokens_refused_total{dialect="oauth",grant="client_credentials",reason="invalid_client"}`: 0,
	})
	moves(t, s, "wrong client secret", func() {
		if code := tokenRequest(t, s, id, sec+"x", "grant_type=client_credentials"); code != http.StatusUnauthorized {
			t.Errorf("wrong secret: %d", code)
		}
	}, map[string]float64{
		`tolk_tokens_refused_total{dialect="oauth",grant="client_credentials",reason="invalid_client"}`: 1,
		`tolk_tokens_issued_total{dialect="oauth",grant="client_credentials"}`:                          0,
	})
	moves(t, s, "unsupported grant", func() {
		tokenRequest(t, s, id, sec, "grant_type=password&username=a&password=b")
	}, map[string]float64{
		`tolk_tokens_refused_total{dialect="oauth",grant="unsupported",reason="unsupported_grant_type"}`: 1,
	})
	moves(t, s, "token exchange with a bad subject", func() {
		tokenRequest(t, s, "", "", "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=nonsense")
	}, map[string]float64{
		`tolk_tokens_refused_total{dialect="platform",grant="token_exchange",reason="invalid_request"}`: 1,
	})
	moves(t, s, "TMS login", func() {
		send(t, s, http.MethodPost, "/api2/v1/auth/login", loginBody("admin", tolktest.AdminPassword), "Content-Type", "application/json")
	}, map[string]float64{
		`tolk_tokens_issued_total{dialect="tms",grant="password"}`: 1,
		`tolk_logins_total{dialect="tms",outcome="success"}`:       1,
	})
	moves(t, s, "wrong password", func() {
		send(t, s, http.MethodPost, "/api2/v1/auth/login", loginBody("admin", "wrong-password"), "Content-Type", "application/json")
	}, map[string]float64{
		`tolk_logins_total{dialect="tms",outcome="failure"}`:       1,
		`tolk_tokens_issued_total{dialect="tms",grant="password"}`: 0,
	})
	moves(t, s, "Strings PAT", func() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v2/authorizations", strings.NewReader(`{"note":"ci"}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("admin", tolktest.AdminPassword)
		if resp, body := s.Do(t, req); resp.StatusCode != http.StatusCreated {
			t.Errorf("POST /v2/authorizations: %d %s", resp.StatusCode, body)
		}
	}, map[string]float64{
		`tolk_tokens_issued_total{dialect="strings",grant="password"}`: 1,
		`tolk_logins_total{dialect="strings",outcome="success"}`:       1,
	})
	moves(t, s, "login limit", func() {
		// Two failures spend bob's bucket (burst 2); the third attempt
		// is refused by the limit without a password check.
		for i := range 3 {
			resp, _ := send(t, s, http.MethodPost, "/api2/v1/auth/login", loginBody("bob", "wrong-"+strconv.Itoa(i)), "Content-Type", "application/json")
			if want := map[bool]int{true: http.StatusTooManyRequests, false: http.StatusUnauthorized}[i == 2]; resp.StatusCode != want {
				t.Errorf("bob's attempt %d: %d, want %d", i, resp.StatusCode, want)
			}
		}
	}, map[string]float64{
		`tolk_rate_limited_total{limit="login-user"}`:          1,
		`tolk_logins_total{dialect="tms",outcome="throttled"}`: 1,
	})
	moves(t, s, "retention sweep", func() {
		if _, err := s.Tolk.Sweeper.Sweep(context.Background()); err != nil {
			t.Errorf("sweep: %v", err)
		}
	}, map[string]float64{
		`tolk_retention_sweeps_total{result="done"}`:                         1,
		`tolk_store_operation_duration_seconds_count{operation="TakeLease"}`: 1,
	})
}

// TestMailMetricSent: an account mail delivered to a real SMTP server
// (Mailpit) counts as sent, one that cannot be delivered as failed
// (TestResetMailServerDown in internal/handler/web covers the latter
// through the web UI).
func TestMailMetricSent(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t, mailpit.Options{})
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) {
		c.SMTPURL, c.SMTPFrom = mp.URL(nil), "tolk@example.com"
	}})
	s.CreateUser(t, "carol", store.RoleLinguist, "carols-password-123")
	moves(t, s, "reset mail", func() {
		if err := s.Tolk.Recovery.RequestReset(context.Background(), "carol", "127.0.0.1", "en"); err != nil {
			t.Fatal(err)
		}
		mp.Wait(t, 1)
		s.Tolk.CloseMailer() // delivered and reported
	}, map[string]float64{
		`tolk_mails_total{kind="password_reset",result="sent"}`:   1,
		`tolk_mails_total{kind="password_reset",result="failed"}`: 0,
	})
}

// deadSMTP is an smtp:// URL where nothing listens.
func deadSMTP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "smtp://" + addr
}
