package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	_ "modernc.org/sqlite"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/core/retention"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// sweptTables are the tables retention empties, with the rows each keeps
// for good: the active key of each algorithm (RS256, ES256 and the XC20P
// key that seals opaque access tokens).
var sweptTables = map[string]int{
	"auth_codes": 0, "access_tokens": 0, "refresh_tokens": 0, "api_tokens": 0, "web_sessions": 0,
	"pending_logins": 0, "platform_tokens": 0, "password_resets": 0, "rate_limits": 0, "audit_events": 0,
	"access_token_cutoffs": 0, "signing_keys": 3,
}

// countRows counts table's rows through a connection of the test's own.
func countRows(t *testing.T, dsn, table string) int {
	t.Helper()
	ctx := t.Context()
	q := "SELECT count(*) FROM " + table // a constant of the test
	var n int
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func countAll(t *testing.T, s *tolktest.Server) map[string]int {
	t.Helper()
	s.Tolk.Audit.Flush() // events are written behind the responses
	got := map[string]int{}
	for table := range sweptTables {
		got[table] = countRows(t, s.Tolk.Config.DB, table)
	}
	return got
}

// shortLived shortens every lifetime, so that a test issues credentials of
// every kind and sees them expire within a clock it advances.
func shortLived(c *config.Config) {
	c.CodeTTL = 30 * time.Second
	c.AccessTokenTTL = time.Minute
	c.RefreshTokenTTL = 10 * time.Minute
	c.APITokenTTL = 5 * time.Minute
	c.SessionTTL = 5 * time.Minute
	c.CleanupInterval = time.Minute
	c.AuditRetention = time.Hour
	c.PasswordResetTTL = 30 * time.Minute
	c.InvitationTTL = 30 * time.Minute
}

// issueEverything issues credentials of every swept kind through the real
// services and endpoints: client_credentials tokens, a browser session
// with a redeemed and an unredeemed code, a refresh family rotated twice,
// a TMS ApiToken, a pending second-factor sign-in, a password-reset link,
// a Platform API token, a rotated signing key, and the audit events and
// rate-limit buckets all of these leave.
func issueEverything(t *testing.T, s *tolktest.Server) {
	t.Helper()
	ctx := t.Context()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{
		OrgUID: org.UID, Name: "retention " + rand.Text()[:8], RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials},
		Scopes:     []string{"openid", "offline_access", "read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	token := func(form url.Values) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ID, sec)
		resp, body := s.Do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token %v: %d %s", form, resp.StatusCode, body)
		}
		var out map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for range 20 {
		token(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	}
	// Opaque access tokens are sealed, with no row; revoking one stores a
	// cutoff (until it expires). JWT access tokens keep a row each.
	sealed := token(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})["access_token"].(string)
	if err := s.Tolk.Authz.Revoke(ctx, c, sealed, ""); err != nil {
		t.Fatal(err)
	}
	jc, jsec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "retention jwt " + rand.Text()[:8],
		GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"read"}, JWTAccessTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Tolk.Authz.Token(ctx, &authz.TokenRequest{Form: url.Values{"grant_type": {"client_credentials"}},
			ClientID: jc.ID, ClientSecret: jsec, AuthMethod: "client_secret_basic"}); err != nil {
			t.Fatal(err)
		}
	}

	b := oauthflow.New(t, s.URL)
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	authorize := s.URL + "/oauth/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {"https://app.example/cb"},
		"scope": {"openid offline_access"}, "state": {"st"}, "code_challenge_method": {"S256"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
	}.Encode()
	codes := make([]string, 2)
	for i := range codes {
		p := b.Authorize(t, authorize, "admin", tolktest.AdminPassword, "allow")
		if p.Location == nil || oauthflow.Params(p.Location).Get("code") == "" {
			t.Fatalf("authorize: %d %v %s", p.Status, p.Location, p.Body)
		}
		codes[i] = oauthflow.Params(p.Location).Get("code")
	}
	refresh := token(url.Values{"grant_type": {"authorization_code"}, "code": {codes[0]},
		"redirect_uri": {"https://app.example/cb"}, "code_verifier": {verifier}})["refresh_token"].(string)
	for range 2 {
		refresh = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})["refresh_token"].(string)
	}

	resp, body := send(t, s, http.MethodPost, "/api2/v1/auth/login", loginBody("admin", tolktest.AdminPassword), "Content-Type", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("TMS login: %d %s", resp.StatusCode, body)
	}

	const pw = "a long password for the second factor"
	u := s.CreateUser(t, "second", store.RoleLinguist, pw)
	e, err := s.Tolk.Identity.TwoFactor.BeginEnrolment(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(e.Secret, s.Clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tolk.Identity.TwoFactor.Enable(ctx, u, code); err != nil {
		t.Fatal(err)
	}
	if _, ticket, err := s.Tolk.Identity.BeginLogin(ctx, "web", "second", pw, "192.0.2.1"); !errors.Is(err, identity.ErrOTPRequired) || ticket == "" {
		t.Fatalf("BeginLogin = %q, %v; want a pending sign-in", ticket, err)
	}
	if _, _, err := s.Tolk.Recovery.ResetLink(ctx, "second"); err != nil {
		t.Fatal(err)
	}

	admin, err := s.Store.GetUserByUserName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tolk.Platform.Create(ctx, admin, "ci", s.Clock.Now().Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tolk.Keys.Rotate(ctx, "ES256"); err != nil {
		t.Fatal(err)
	}
}

// TestSweeperEmptiesExpiredRows: credentials of every kind, issued by the
// real services with short lifetimes, are deleted by the sweeps that
// follow their expiry (the test advances the clock by cleanup_interval
// and runs each sweep as its tick would), until every swept table is back
// to what it holds for good; nothing live is deleted on the way.
func TestSweeperEmptiesExpiredRows(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "sqlite", true: "postgres"}[pg]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := tolktest.New(t, tolktest.Options{Postgres: pg, Config: shortLived})
			issueEverything(t, s)
			before := countAll(t, s)
			t.Logf("rows before sweeping: %v", before)
			for table, keep := range sweptTables {
				if table == "rate_limits" && !pg {
					continue // the memory backend on SQLite: no rows
				}
				if before[table] <= keep {
					t.Errorf("%s: %d rows before sweeping; the test should have issued some", table, before[table])
				}
			}
			ctx := t.Context()
			sweep := func() retention.Report {
				t.Helper()
				r, err := s.Tolk.Sweeper.Sweep(ctx)
				if err != nil || !r.Led {
					t.Fatalf("Sweep = %+v, %v", r, err)
				}
				return r
			}

			// Nothing has expired yet but full rate-limit buckets.
			if r := sweep(); r.Deleted["access_tokens"]+r.Deleted["refresh_tokens"]+r.Deleted["audit_events"] != 0 {
				t.Errorf("first sweep deleted live rows: %v", r.Deleted)
			}
			// One interval on, the codes (30 s) and access tokens (1 m) are
			// gone, and only they.
			s.Clock.Advance(time.Minute + time.Second)
			sweep()
			mid := countAll(t, s)
			for table, want := range map[string]int{"auth_codes": 0, "access_tokens": 0, "refresh_tokens": before["refresh_tokens"],
				"api_tokens": before["api_tokens"], "web_sessions": before["web_sessions"], "audit_events": before["audit_events"]} {
				if mid[table] != want {
					t.Errorf("after the first expiries: %s has %d rows, want %d", table, mid[table], want)
				}
			}
			// Ticks on until every lifetime, the audit retention and the
			// retired key's publication have passed.
			deleted := map[string]int{}
			for range 20 {
				s.Clock.Advance(24 * time.Hour)
				for k, n := range sweep().Deleted {
					deleted[k] += n
				}
			}
			after := countAll(t, s)
			for table, keep := range sweptTables {
				if after[table] != keep {
					t.Errorf("%s: %d rows after the sweeps, want %d (before: %d)", table, after[table], keep, before[table])
				}
			}
			if deleted["signing_keys"] != 1 {
				t.Errorf("signing keys pruned: %d, want the rotated-out one", deleted["signing_keys"])
			}
		})
	}
}

// countingStore counts the DeleteExpired statements in flight across
// every store that shares it.
type countingStore struct {
	store.Store
	c *inFlight
}

type inFlight struct {
	now, max, total atomic.Int64
}

func (s countingStore) DeleteExpired(ctx context.Context, kind store.Expired, before time.Time, limit int) (int, error) {
	n := s.c.now.Add(1)
	defer s.c.now.Add(-1)
	for m := s.c.max.Load(); n > m && !s.c.max.CompareAndSwap(m, n); m = s.c.max.Load() {
	}
	s.c.total.Add(1)
	return s.Store.DeleteExpired(ctx, kind, before, limit)
}

// TestOneInstanceSweeps: two instances on one PostgreSQL database sweep
// at the same moments; in each round exactly one leads, the same one
// while it lives, and their deletes never overlap. Once the leader stops,
// the other takes over.
func TestOneInstanceSweeps(t *testing.T) {
	t.Parallel()
	c := &inFlight{}
	wrap := func(st store.Store) store.Store { return countingStore{st, c} }
	// Tokens expire within a round; the lease (two intervals) outlasts
	// all of them.
	cfg := func(c *config.Config) { c.AccessTokenTTL, c.CleanupInterval = time.Minute, time.Hour }
	a := tolktest.New(t, tolktest.Options{Postgres: true, WrapStore: wrap, Config: cfg})
	b := tolktest.New(t, tolktest.Options{DSN: a.Tolk.Config.DB, WrapStore: wrap, Config: cfg})
	id, sec := ccClient(t, a)
	seed := func() {
		for range 3 {
			resp, body := a.Do(t, formRequest(a.URL+"/oauth/token", id, sec, "grant_type=client_credentials&scope=read"))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("token: %d %s", resp.StatusCode, body)
			}
		}
	}
	leader := map[int]int{}
	for round := range 6 {
		seed()
		a.Clock.Advance(2 * time.Minute)
		b.Clock.Advance(2 * time.Minute)
		var wg sync.WaitGroup
		reports := make([]retention.Report, 2)
		for i, s := range []*tolktest.Server{a, b} {
			wg.Go(func() {
				r, err := s.Tolk.Sweeper.Sweep(t.Context())
				if err != nil {
					t.Errorf("round %d, instance %d: %v", round, i, err)
				}
				reports[i] = r
			})
		}
		wg.Wait()
		if c.total.Load() == 0 {
			t.Fatalf("round %d: nothing swept", round)
		}
		led := 0
		for i, r := range reports {
			if r.Led {
				led++
				leader[i]++
			}
		}
		if led != 1 {
			t.Fatalf("round %d: %d instances swept, want 1", round, led)
		}
	}
	if len(leader) != 1 {
		t.Errorf("leaders %v: the lease should stay with the instance that holds it", leader)
	}
	if m := c.max.Load(); m != 1 || c.total.Load() == 0 {
		t.Errorf("deletes in flight at once: at most %d of %d; want 1", m, c.total.Load())
	}

	// The leader stops (as serve does at shutdown, freeing the lease); the
	// other sweeps next.
	first, second := a, b
	if leader[1] > 0 {
		first, second = b, a
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	first.Tolk.Sweeper.Run(ctx, nil) // one sweep, then it frees the lease
	if r, err := second.Tolk.Sweeper.Sweep(t.Context()); err != nil || !r.Led {
		t.Errorf("after the leader stopped: Sweep = %+v, %v; want the other to lead", r, err)
	}
}
