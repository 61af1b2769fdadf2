package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// requireRedis skips when Redis is not at 127.0.0.1:6379 (TOLK_TEST_REDIS
// overrides the URL), failing instead under CI=true.
func requireRedis(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TOLK_TEST_REDIS")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", pu.Host, time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is required under CI=true but is not reachable at %s: %v", pu.Host, err)
		}
		t.Skipf("Redis not reachable at %s (set TOLK_TEST_REDIS): %v", pu.Host, err)
	}
	c.Close()
	return u
}

// twoInstances starts two tolk servers on one fresh PostgreSQL database
// with the rate limit backend named, small limits, and the same clock
// start; the second server's clock is advanced together with the first's
// by the caller.
func twoInstances(t *testing.T, backend string, more ...func(*config.Config)) (a, b *tolktest.Server) {
	t.Helper()
	dsn := pgtest.NewMigrated(t)
	prefix := ""
	var redisURL string
	if backend == "redis" {
		redisURL = requireRedis(t)
		r := make([]byte, 8)
		_, _ = rand.Read(r)
		prefix = "tolktest:" + hex.EncodeToString(r) + ":"
	}
	cfg := func(c *config.Config) {
		c.RateLimitBackend = backend
		if backend == "redis" {
			c.RedisURL, c.RedisPrefix = redisURL, prefix
		}
		c.LoginUserBurst, c.LoginUserInterval = 3, time.Minute
		c.LoginIPBurst, c.LoginIPInterval = 100, time.Minute
		c.ClientFailBurst, c.ClientFailInterval = 3, time.Minute
		c.InvalidTokenBurst, c.InvalidTokenInterval = 3, time.Minute
		for _, f := range more {
			f(c)
		}
	}
	a = tolktest.New(t, tolktest.Options{DSN: dsn, Config: cfg})
	b = tolktest.New(t, tolktest.Options{DSN: dsn, Config: cfg})
	return a, b
}

func post(t *testing.T, s *tolktest.Server, path, ctype, body string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, _ := s.Do(t, req)
	return resp
}

func tmsLogin(t *testing.T, s *tolktest.Server, user, pw string) *http.Response {
	t.Helper()
	return post(t, s, "/api2/v1/auth/login", "application/json", `{"userName":"`+user+`","password":"`+pw+`"}`)
}

// TestT37_LimitsCountedTogetherAcrossInstances: two instances on one
// database share their abuse limits, on the PostgreSQL backend and on
// Redis: failures at one instance throttle the other, at every
// credential-checking endpoint (issue 6, points 2 and 8).
func TestT37_LimitsCountedTogetherAcrossInstances(t *testing.T) {
	type endpoint struct {
		name string
		fail func(t *testing.T, s *tolktest.Server) *http.Response // one failed attempt
		// probe is an attempt that would succeed, or fail with 401/400,
		// were the limit not reached.
		probe func(t *testing.T, s *tolktest.Server) *http.Response
		// extra headers that must accompany the 429
		headers []string
		config  func(*config.Config)
	}
	endpoints := []endpoint{
		{
			name:  "TMS login per user",
			fail:  func(t *testing.T, s *tolktest.Server) *http.Response { return tmsLogin(t, s, "ana", "wrong-password") },
			probe: func(t *testing.T, s *tolktest.Server) *http.Response { return tmsLogin(t, s, "ana", "ana-password-1") },
		},
		{
			name: "Strings authorizations Basic per user",
			fail: func(t *testing.T, s *tolktest.Server) *http.Response {
				return get2(t, s, "/v2/authorizations", "ana", "wrong-password")
			},
			probe: func(t *testing.T, s *tolktest.Server) *http.Response {
				return get2(t, s, "/v2/authorizations", "ana", "ana-password-1")
			},
			headers: []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"},
		},
		{
			name: "token endpoint per client",
			fail: func(t *testing.T, s *tolktest.Server) *http.Response {
				return post(t, s, "/oauth/token", "application/x-www-form-urlencoded",
					"grant_type=client_credentials&client_id=someclient&client_secret=wrong")
			},
			probe: func(t *testing.T, s *tolktest.Server) *http.Response {
				return post(t, s, "/oauth/token", "application/x-www-form-urlencoded",
					"grant_type=client_credentials&client_id=someclient&client_secret=wrong-again")
			},
		},
		{
			name: "unknown-token verification per address",
			fail: func(t *testing.T, s *tolktest.Server) *http.Response {
				return getAuth(t, s, "/api2/v1/auth/whoAmI", "ApiToken "+strings.Repeat("x", 64))
			},
			probe: func(t *testing.T, s *tolktest.Server) *http.Response {
				return getAuth(t, s, "/userinfo", "Bearer tolk_at_unknown")
			},
		},
		{
			name: "token exchange subject tokens per address",
			fail: func(t *testing.T, s *tolktest.Server) *http.Response {
				return post(t, s, "/oauth/token", "application/x-www-form-urlencoded",
					"grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=tolk_pt_made_up")
			},
			probe: func(t *testing.T, s *tolktest.Server) *http.Response {
				return post(t, s, "/oauth/token", "application/x-www-form-urlencoded",
					"grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=tolk_pt_another")
			},
			// Per address, with the login_ip_* limits.
			config: func(c *config.Config) { c.LoginIPBurst = 3 },
		},
	}
	for _, backend := range []string{"postgres", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			for _, ep := range endpoints {
				t.Run(ep.name, func(t *testing.T) {
					var more []func(*config.Config)
					if ep.config != nil {
						more = append(more, ep.config)
					}
					a, b := twoInstances(t, backend, more...)
					a.CreateUser(t, "ana", store.RoleLinguist, "ana-password-1")
					// The limit is 3 failures: 2 at a, 1 at b.
					for i, s := range []*tolktest.Server{a, a, b} {
						if resp := ep.fail(t, s); resp.StatusCode == http.StatusTooManyRequests {
							t.Fatalf("failure %d already throttled", i+1)
						}
					}
					for name, s := range map[string]*tolktest.Server{"a": a, "b": b} {
						resp := ep.probe(t, s)
						if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
							t.Fatalf("instance %s after 3 failures across both: %d (Retry-After %q), want 429 with Retry-After",
								name, resp.StatusCode, resp.Header.Get("Retry-After"))
						}
						for _, h := range ep.headers {
							if resp.Header.Get(h) == "" {
								t.Errorf("instance %s: 429 without %s", name, h)
							}
						}
					}
				})
			}
		})
	}
}

// TestT37_MemoryLimitsArePerInstance documents the single-node backend:
// with rate_limit_backend memory, two instances count apart (which is why
// PostgreSQL deployments default to the postgres backend).
func TestT37_MemoryLimitsArePerInstance(t *testing.T) {
	a, b := twoInstances(t, "memory")
	a.CreateUser(t, "ana", store.RoleLinguist, "ana-password-1")
	for range 3 {
		tmsLogin(t, a, "ana", "wrong-password")
	}
	if resp := tmsLogin(t, a, "ana", "ana-password-1"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("instance a: %d, want 429", resp.StatusCode)
	}
	if resp := tmsLogin(t, b, "ana", "ana-password-1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("instance b (own memory): %d, want 200", resp.StatusCode)
	}
}

// TestT37_DefaultBackendFollowsTheDatabase: postgres on PostgreSQL,
// memory on SQLite.
func TestT37_DefaultBackendFollowsTheDatabase(t *testing.T) {
	dsn := pgtest.NewMigrated(t)
	cfg := func(c *config.Config) { c.LoginUserBurst, c.LoginUserInterval = 2, time.Minute }
	a := tolktest.New(t, tolktest.Options{DSN: dsn, Config: cfg})
	b := tolktest.New(t, tolktest.Options{DSN: dsn, Config: cfg})
	a.CreateUser(t, "ana", store.RoleLinguist, "ana-password-1")
	tmsLogin(t, a, "ana", "wrong-password")
	tmsLogin(t, b, "ana", "wrong-password")
	if resp := tmsLogin(t, a, "ana", "ana-password-1"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("PostgreSQL without rate_limit_backend: %d, want 429 (shared limits)", resp.StatusCode)
	}
	// After the refill the good password works again: a soft lock.
	a.Clock.Advance(2 * time.Minute)
	b.Clock.Advance(2 * time.Minute)
	if resp := tmsLogin(t, b, "ana", "ana-password-1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the refill: %d, want 200", resp.StatusCode)
	}
}

// TestT37_TokenEndpointClientRequestRate: successful token requests of
// one client are counted too, generously, across instances.
func TestT37_TokenEndpointClientRequestRate(t *testing.T) {
	dsn := pgtest.NewMigrated(t)
	cfg := func(c *config.Config) { c.ClientRequestBurst, c.ClientRequestInterval = 2, time.Minute }
	a := tolktest.New(t, tolktest.Options{DSN: dsn, Config: cfg})
	b := tolktest.New(t, tolktest.Options{DSN: dsn, Config: cfg})
	body := "grant_type=client_credentials&client_id=c1&client_secret=x"
	post(t, a, "/oauth/token", "application/x-www-form-urlencoded", body)
	post(t, b, "/oauth/token", "application/x-www-form-urlencoded", body)
	resp := post(t, a, "/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=c1&client_secret=y")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third request of client c1 across instances: %d, want 429 with Retry-After", resp.StatusCode)
	}
	if resp := post(t, b, "/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=c2&client_secret=y"); resp.StatusCode == http.StatusTooManyRequests {
		t.Fatal("another client is throttled too")
	}
}

func get2(t *testing.T, s *tolktest.Server, path, user, pw string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.SetBasicAuth(user, pw)
	resp, _ := s.Do(t, req)
	return resp
}

func getAuth(t *testing.T, s *tolktest.Server, path, auth string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.Header.Set("Authorization", auth)
	resp, _ := s.Do(t, req)
	return resp
}

// TestT37_ValidCredentialsPassFailureLimits: at the token, introspection
// and revocation endpoints, whose credentials are 256-bit, failures are
// refused with 429 once their buckets are empty, but the owner of a valid
// client secret or subject token is not locked out by someone spraying
// wrong ones under its client id or from its address (no lockout DoS);
// on one instance (memory limits) and across two (PostgreSQL limits).
func TestT37_ValidCredentialsPassFailureLimits(t *testing.T) {
	limits := func(c *config.Config) {
		c.ClientFailBurst, c.ClientFailInterval = 3, time.Minute
		c.LoginIPBurst, c.LoginIPInterval = 3, time.Minute
	}
	for _, backend := range []string{"memory", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var a, b *tolktest.Server
			if backend == "memory" {
				a = tolktest.New(t, tolktest.Options{Config: limits})
				b = a
			} else {
				a, b = twoInstances(t, backend, limits)
			}
			ctx := context.Background()
			org, err := a.Store.DefaultOrganization(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c, sec, err := a.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "victim",
				GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}})
			if err != nil {
				t.Fatal(err)
			}
			form := "application/x-www-form-urlencoded"
			cc := func(s *tolktest.Server, secret string) *http.Response {
				return post(t, s, "/oauth/token", form, url.Values{"grant_type": {"client_credentials"},
					"client_id": {c.ID}, "client_secret": {secret}}.Encode())
			}
			// The burst of wrong secrets is answered 401, the next 429.
			for i, s := range []*tolktest.Server{a, a, b} {
				if resp := cc(s, "wrong-secret"); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong secret %d: %d, want 401", i+1, resp.StatusCode)
				}
			}
			for name, s := range map[string]*tolktest.Server{"a": a, "b": b} {
				if resp := cc(s, "wrong-secret"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("instance %s, wrong secret past the burst: %d, want 429 with Retry-After", name, resp.StatusCode)
				}
			}
			// The real client still gets tokens and introspects them.
			req, _ := http.NewRequest(http.MethodPost, b.URL+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"},
				"client_id": {c.ID}, "client_secret": {sec}}.Encode()))
			req.Header.Set("Content-Type", form)
			resp, body := b.Do(t, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("valid secret while its client id is throttled: %d, want 200", resp.StatusCode)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
				t.Fatalf("token response %s: %v", body, err)
			}
			resp = post(t, a, "/oauth/introspect", form, url.Values{"client_id": {c.ID}, "client_secret": {sec}, "token": {tok.AccessToken}}.Encode())
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("introspection with a valid secret while throttled: %d, want 200", resp.StatusCode)
			}
			if resp := post(t, a, "/oauth/introspect", form, url.Values{"client_id": {c.ID}, "client_secret": {"wrong-secret"},
				"token": {tok.AccessToken}}.Encode()); resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("introspection with a wrong secret while throttled: %d, want 429", resp.StatusCode)
			}

			// Token exchange: rejected subject tokens count per address.
			u := a.CreateUser(t, "ana", store.RoleLinguist, "ana-password-1")
			pt, err := a.Tolk.Platform.Create(ctx, u, "victim", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			exchange := func(s *tolktest.Server, subject string) *http.Response {
				return post(t, s, "/oauth/token", form, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
					"subject_token": {subject}}.Encode())
			}
			// The address's bucket already holds the three client failures.
			if resp := exchange(a, "tolk_pt_made_up"); resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("made-up subject token from a throttled address: %d, want 429", resp.StatusCode)
			}
			if resp := exchange(b, pt.Secret); resp.StatusCode != http.StatusOK {
				t.Fatalf("valid subject token from a throttled address: %d, want 200", resp.StatusCode)
			}
		})
	}
}

// TestT37_ParallelGuessesEvaluateAtMostTheBurst: wrong passwords sent all
// at once, over the TMS login and the Strings Basic auth (by user name and
// by email: one account, one budget), spread over two instances that share
// their limits, are checked at most as many times as the account's burst
// (3): each takes its token before its password is checked. Counted in
// argon2id runs, not in time. One instance on memory limits, two on
// PostgreSQL and on Redis.
func TestT37_ParallelGuessesEvaluateAtMostTheBurst(t *testing.T) {
	for _, backend := range []string{"memory", "postgres", "redis"} {
		t.Run(backend, func(t *testing.T) {
			a, b := twoInstances(t, backend)
			if backend == "memory" {
				b = a // memory limits are per instance
			}
			a.CreateUser(t, "ana", store.RoleLinguist, "ana-password-1")
			hashes := func() int64 {
				if a == b {
					return a.Tolk.Identity.Hasher.Runs()
				}
				return a.Tolk.Identity.Hasher.Runs() + b.Tolk.Identity.Hasher.Runs()
			}
			before := hashes()
			const n = 30
			var throttled atomic.Int32
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					s := []*tolktest.Server{a, b}[i%2]
					<-start
					var resp *http.Response
					switch i % 3 {
					case 0:
						resp = tmsLogin(t, s, "ana", "wrong-password")
					case 1:
						resp = get2(t, s, "/v2/authorizations", "ana@example.com", "wrong-password")
					default:
						resp = get2(t, s, "/v2/authorizations", "ANA", "wrong-password")
					}
					switch resp.StatusCode {
					case http.StatusTooManyRequests:
						throttled.Add(1)
					case http.StatusUnauthorized:
					default:
						t.Errorf("guess %d: %d", i, resp.StatusCode)
					}
				})
			}
			close(start)
			wg.Wait()
			if got := hashes() - before; got != 3 || throttled.Load() != n-3 {
				t.Fatalf("%d passwords checked and %d of %d guesses throttled, want 3 checked (the burst)", got, throttled.Load(), n)
			}
		})
	}
}
