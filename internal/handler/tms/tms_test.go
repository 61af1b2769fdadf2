package tms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/handler/tms"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

const (
	loginPath    = "/api2/v1/auth/login"
	webLoginPath = "/web/api2/v1/auth/login"
	logoutPath   = "/api2/v1/auth/logout"
	whoAmIPath   = "/api2/v1/auth/whoAmI"
	otherPath    = "/api2/v1/auth/loginOther"

	alicePassword = "alice-password-1234"
	bobPassword   = "bob-password-5678"
)

var (
	tokenRE   = regexp.MustCompile(`^[A-Za-z0-9]{64}$`)
	uuidV4RE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	csrfRE    = regexp.MustCompile(`name="csrf_token" value="([A-Za-z0-9]+)"`)
	startTime = time.Date(2026, 11, 23, 9, 31, 23, 0, time.UTC) // tolktest's clock
)

// env is a test server that remembers every secret the test handled and,
// when the test ends, asserts that none of them reached the logs (T36).
type env struct {
	*tolktest.Server
	mu      sync.Mutex
	secrets []string
}

func newEnv(t *testing.T, opts ...tolktest.Options) *env {
	t.Helper()
	e := &env{Server: tolktest.New(t, opts...)}
	e.remember(tolktest.AdminPassword)
	t.Cleanup(func() {
		logs := e.Logs.String()
		if !strings.Contains(logs, "request_id=") {
			t.Errorf("no access log line captured; the secret check would be vacuous")
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, s := range e.secrets {
			if strings.Contains(logs, s) {
				t.Errorf("server logs contain a secret (%.6s…)", s)
			}
		}
	})
	return e
}

func (e *env) remember(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}

func (e *env) createUser(t *testing.T, name string, role store.Role, pw string) store.User {
	t.Helper()
	e.remember(pw)
	return e.CreateUser(t, name, role, pw)
}

// request sends method path with an optional body and header pairs.
func (e *env) request(t testing.TB, method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, b := e.Do(t, req)
	if resp.StatusCode >= 500 {
		t.Errorf("%s %s: status %d (never 5xx for client input): %s", method, path, resp.StatusCode, b)
	}
	return resp, b
}

func (e *env) postJSON(t testing.TB, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return e.request(t, http.MethodPost, path, strings.NewReader(body), append([]string{"Content-Type", "application/json"}, hdr...)...)
}

func loginBody(user, pw string) string {
	b, _ := json.Marshal(map[string]string{"userName": user, "password": pw})
	return string(b)
}

// login signs in through path (loginPath when empty) and returns the token.
func (e *env) login(t testing.TB, path, user, pw string) tms.LoginResponse {
	t.Helper()
	if path == "" {
		path = loginPath
	}
	resp, body := e.postJSON(t, path, loginBody(user, pw))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s as %q: status %d: %s", path, user, resp.StatusCode, body)
	}
	var lr tms.LoginResponse
	if err := json.Unmarshal(body, &lr); err != nil {
		t.Fatalf("login body: %v: %s", err, body)
	}
	e.remember(lr.Token)
	return lr
}

func (e *env) whoAmI(t testing.TB, token string) (*http.Response, []byte) {
	t.Helper()
	return e.request(t, http.MethodGet, whoAmIPath, nil, "Authorization", "ApiToken "+token)
}

// wantWhoAmI asserts that token authenticates as userName.
func (e *env) wantWhoAmI(t testing.TB, token, userName string) {
	t.Helper()
	resp, body := e.whoAmI(t, token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("whoAmI: status %d, want 200: %s", resp.StatusCode, body)
	}
	var w tms.WhoAmI
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatal(err)
	}
	if w.User.UserName != userName {
		t.Fatalf("whoAmI user = %q, want %q", w.User.UserName, userName)
	}
}

// wantRefused asserts that token no longer authenticates.
func (e *env) wantRefused(t testing.TB, token string) {
	t.Helper()
	resp, body := e.whoAmI(t, token)
	wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthUnauthorized")
}

// wantTMSError asserts status and the TMS error shape
// {"errorCode","errorDescription"} and nothing else.
func wantTMSError(t testing.TB, resp *http.Response, body []byte, status int, code string) tms.Error {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var e tms.Error
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body is not the TMS shape: %v: %s", err, body)
	}
	if e.ErrorCode != code {
		t.Errorf("errorCode %q, want %q", e.ErrorCode, code)
	}
	if e.ErrorDescription == "" {
		t.Errorf("errorDescription is empty")
	}
	if status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate")
	}
	return e
}

// countAPITokens counts every stored ApiToken by deleting them all (the
// store interface has no count); use it only at the end of a test.
func (e *env) countAPITokens(t testing.TB) int {
	t.Helper()
	n, err := e.Store.DeleteExpired(context.Background(), store.ExpiredAPITokens, startTime.AddDate(100, 0, 0), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// TestLoginLogoutWhoAmI is the main ApiToken life cycle on both backends:
// exact login shape on both login paths, whoAmI, logout, and SQL
// injection payloads as user names (T18, T38, T44).
func TestLoginLogoutWhoAmI(t *testing.T) {
	t.Parallel()
	for _, backend := range []struct {
		name string
		opts tolktest.Options
	}{
		{"sqlite", tolktest.Options{}},
		{"postgres", tolktest.Options{Postgres: true}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, backend.opts)
			admin, err := e.Store.GetUserByUserName(context.Background(), "admin")
			if err != nil {
				t.Fatal(err)
			}
			org, err := e.Store.GetOrganization(context.Background(), admin.OrgUID)
			if err != nil {
				t.Fatal(err)
			}

			var tokens []string
			for _, path := range []string{loginPath, webLoginPath} {
				resp, body := e.postJSON(t, path, loginBody("admin", tolktest.AdminPassword))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
				}
				if got := resp.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("%s: Cache-Control %q, want no-store", path, got)
				}
				if got := resp.Header.Get("Pragma"); got != "no-cache" {
					t.Errorf("%s: Pragma %q, want no-cache", path, got)
				}
				if got := resp.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("%s: Content-Type %q", path, got)
				}
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatal(err)
				}
				if got, want := keys(m), []string{"expires", "lastInvalidateAllSessionsPerformed", "token", "user"}; !slices.Equal(got, want) {
					t.Errorf("%s: top-level keys %v, want %v", path, got, want)
				}
				if v, ok := m["lastInvalidateAllSessionsPerformed"]; !ok || v != nil {
					t.Errorf("%s: lastInvalidateAllSessionsPerformed = %v, want null", path, v)
				}
				if got, want := m["expires"], "2026-11-24T09:31:23+0000"; got != want {
					t.Errorf("%s: expires %v, want %v (clock + 24h)", path, got, want)
				}
				tok, _ := m["token"].(string)
				if !tokenRE.MatchString(tok) {
					t.Errorf("%s: token %q does not match %s", path, tok, tokenRE)
				}
				e.remember(tok)
				tokens = append(tokens, tok)
				u, _ := m["user"].(map[string]any)
				if got, want := keys(u), []string{"email", "firstName", "id", "lastName", "role", "uid", "userName"}; !slices.Equal(got, want) {
					t.Errorf("%s: user keys %v, want %v", path, got, want)
				}
				want := map[string]any{
					"firstName": "Admin", "lastName": "", "userName": "admin",
					"email": "admin@localhost.localdomain", "role": "ADMIN", "id": admin.ID, "uid": admin.UID,
				}
				for k, v := range want {
					if u[k] != v {
						t.Errorf("%s: user.%s = %#v, want %#v", path, k, u[k], v)
					}
				}
				if uid, _ := u["uid"].(string); !uuidV4RE.MatchString(uid) {
					t.Errorf("%s: uid %q is not a UUID v4", path, uid)
				}
			}
			if tokens[0] == tokens[1] {
				t.Fatalf("two logins returned the same token")
			}

			// whoAmI.
			resp, body := e.whoAmI(t, tokens[0])
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("whoAmI: %d %s", resp.StatusCode, body)
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			if got := keys(m); !slices.Equal(got, []string{"organization", "user"}) {
				t.Errorf("whoAmI keys %v", got)
			}
			o, _ := m["organization"].(map[string]any)
			if got := keys(o); !slices.Equal(got, []string{"name", "uid"}) || o["uid"] != org.UID || o["name"] != org.Name {
				t.Errorf("whoAmI organization %v, want uid %s name %s", o, org.UID, org.Name)
			}
			if u, _ := m["user"].(map[string]any); u["uid"] != admin.UID || u["userName"] != "admin" {
				t.Errorf("whoAmI user %v", u)
			}

			// Logout ends exactly the presented token.
			resp, body = e.request(t, http.MethodPost, logoutPath, nil, "Authorization", "ApiToken "+tokens[0])
			if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
				t.Fatalf("logout: %d %q, want 204 and no body", resp.StatusCode, body)
			}
			e.wantRefused(t, tokens[0])
			e.wantWhoAmI(t, tokens[1], "admin")
			resp, body = e.request(t, http.MethodPost, logoutPath, nil, "Authorization", "ApiToken "+tokens[0])
			wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthUnauthorized")

			// SQL injection payloads as user names are just unknown users (T44).
			for _, p := range []string{`' OR 1=1--`, `admin'--`, `"; DROP TABLE users;--`, `admin' OR '1'='1`, `%`, `_dmin`, `admin\`, "admin\x00"} {
				resp, body := e.postJSON(t, loginPath, loginBody(p, tolktest.AdminPassword))
				wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthInvalidCredentials")
				resp, body = e.postJSON(t, loginPath, loginBody("admin", p))
				wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthInvalidCredentials")
			}
			lr := e.login(t, "", "admin", tolktest.AdminPassword)
			e.wantWhoAmI(t, lr.Token, "admin")
			e.wantWhoAmI(t, tokens[1], "admin")
		})
	}
}

func TestLoginUserNameCaseInsensitive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "Alice.Smith", store.RoleLinguist, alicePassword)
	for _, name := range []string{"Alice.Smith", "alice.smith", "ALICE.SMITH", "aLiCe.sMiTh"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lr := e.login(t, "", name, alicePassword)
			if lr.User.UserName != "Alice.Smith" {
				t.Errorf("userName %q, want the stored spelling Alice.Smith", lr.User.UserName)
			}
			e.wantWhoAmI(t, lr.Token, "Alice.Smith")
		})
	}
}

// TestAuthorizationForms: the ApiToken scheme (case-insensitive), ?token=
// (redacted from logs, and refused when turned off), and everything else
// refused (T36).
func TestAuthorizationForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.login(t, "", "admin", tolktest.AdminPassword).Token

	for _, tc := range []struct {
		name   string
		path   string
		hdr    []string
		wantOK bool
	}{
		{"ApiToken header", whoAmIPath, []string{"Authorization", "ApiToken " + tok}, true},
		{"lower-case scheme", whoAmIPath, []string{"Authorization", "apitoken " + tok}, true},
		{"upper-case scheme", whoAmIPath, []string{"Authorization", "APITOKEN " + tok}, true},
		{"query token", whoAmIPath + "?token=" + tok, nil, true},
		{"Bearer scheme", whoAmIPath, []string{"Authorization", "Bearer " + tok}, false},
		{"Basic scheme", whoAmIPath, []string{"Authorization", "Basic " + tok}, false},
		{"no scheme", whoAmIPath, []string{"Authorization", tok}, false},
		{"empty token", whoAmIPath, []string{"Authorization", "ApiToken "}, false},
		{"truncated token", whoAmIPath, []string{"Authorization", "ApiToken " + tok[:63]}, false},
		{"token plus a char", whoAmIPath, []string{"Authorization", "ApiToken " + tok + "x"}, false},
		{"case-swapped token", whoAmIPath, []string{"Authorization", "ApiToken " + swapCase(tok)}, false},
		{"trailing whitespace", whoAmIPath, []string{"Authorization", "ApiToken " + tok + "\t"}, true},
		{"nothing", whoAmIPath, nil, false},
		{"query token empty", whoAmIPath + "?token=", nil, false},
		{"query token other param", whoAmIPath + "?access_token=" + tok, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := e.request(t, http.MethodGet, tc.path, nil, tc.hdr...)
			if tc.wantOK {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("whoAmI Cache-Control %q, want no-store", cc)
				}
				return
			}
			wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthUnauthorized")
		})
	}

	t.Run("query token redacted in logs", func(t *testing.T) {
		t.Parallel()
		tok := e.login(t, "", "admin", tolktest.AdminPassword).Token
		resp, body := e.request(t, http.MethodGet, whoAmIPath+"?lang=en&token="+tok, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		id := resp.Header.Get("X-Request-Id")
		var line string
		for _, l := range strings.Split(e.Logs.String(), "\n") {
			if strings.Contains(l, "request_id="+id) && strings.Contains(l, "path="+whoAmIPath) {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("no access log line for request %s", id)
		}
		if strings.Contains(line, tok) || !strings.Contains(line, "token=REDACTED") || !strings.Contains(line, "lang=en") {
			t.Errorf("access log line does not redact exactly the token: %s", line)
		}
		if strings.Contains(e.Logs.String(), tok) {
			t.Errorf("logs contain the ?token= value")
		}
	})

	t.Run("query token disabled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, tolktest.Options{Config: func(c *config.Config) { c.QueryToken = false }})
		tok := e.login(t, "", "admin", tolktest.AdminPassword).Token
		resp, body := e.request(t, http.MethodGet, whoAmIPath+"?token="+tok, nil)
		wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthUnauthorized")
		resp, body = e.request(t, http.MethodPost, logoutPath+"?token="+tok, nil)
		wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthUnauthorized")
		e.wantWhoAmI(t, tok, "admin") // the header still works, and logout did not happen
		if strings.Contains(e.Logs.String(), tok) {
			t.Errorf("logs contain the ?token= value")
		}
	})
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "alice", store.RoleLinguist, alicePassword)
	a1 := e.login(t, "", "alice", alicePassword).Token
	a2 := e.login(t, "", "alice", alicePassword).Token

	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"no token", nil},
		{"unknown token", []string{"Authorization", "ApiToken " + strings.Repeat("A", 64)}},
		{"malformed token", []string{"Authorization", "ApiToken ' OR 1=1--"}},
		{"wrong scheme", []string{"Authorization", "Bearer " + a1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.request(t, http.MethodPost, logoutPath, nil, tc.hdr...)
			wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthUnauthorized")
		})
	}
	e.wantWhoAmI(t, a1, "alice")

	resp, body := e.request(t, http.MethodPost, logoutPath, nil, "Authorization", "ApiToken "+a1)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	e.wantRefused(t, a1)
	e.wantWhoAmI(t, a2, "alice")

	// ?token= logout works too.
	resp, body = e.request(t, http.MethodPost, logoutPath+"?token="+a2, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout ?token=: %d %s", resp.StatusCode, body)
	}
	e.wantRefused(t, a2)
}

// TestTokenExpiry: the 24 h lifetime is enforced by the server (T38).
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.login(t, "", "admin", tolktest.AdminPassword).Token
	e.Clock.Advance(23*time.Hour + 59*time.Minute)
	e.wantWhoAmI(t, tok, "admin")
	fresh := e.login(t, "", "admin", tolktest.AdminPassword)
	if want := startTime.Add(47*time.Hour + 59*time.Minute).Format(tms.ExpiresLayout); fresh.Expires != want {
		t.Errorf("expires %q, want %q", fresh.Expires, want)
	}
	e.Clock.Advance(time.Minute) // exactly 24 h
	e.wantRefused(t, tok)
	resp, body := e.request(t, http.MethodPost, logoutPath, nil, "Authorization", "ApiToken "+tok)
	wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthUnauthorized")
	e.wantWhoAmI(t, fresh.Token, "admin")
}

func TestTokenLifetimeConfigurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tolktest.Options{Config: func(c *config.Config) { c.APITokenTTL = time.Hour }})
	lr := e.login(t, "", "admin", tolktest.AdminPassword)
	if lr.Expires != "2026-11-23T10:31:23+0000" {
		t.Errorf("expires %q, want clock + 1h", lr.Expires)
	}
	e.Clock.Advance(time.Hour)
	e.wantRefused(t, lr.Token)
}

func TestLoginOther(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.createUser(t, "alice", store.RoleLinguist, alicePassword)
	e.createUser(t, "bob", store.RoleProjectManager, bobPassword)
	ctx := context.Background()
	other := store.Organization{UID: "11111111-2222-4333-8444-555555555555", Name: "Other", CreatedAt: startTime}
	if err := e.Store.CreateOrganization(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Tolk.Identity.CreateUser(ctx, identityUser(other.UID, "carol")); err != nil {
		t.Fatal(err)
	}
	adminTok := e.login(t, "", "admin", tolktest.AdminPassword).Token
	aliceTok := e.login(t, "", "alice", alicePassword).Token
	bobTok := e.login(t, "", "bob", bobPassword).Token

	t.Run("admin obtains a token for a user of the organization", func(t *testing.T) {
		resp, body := e.postJSON(t, otherPath, `{"userName":"ALICE"}`, "Authorization", "ApiToken "+adminTok)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		var lr tms.LoginResponse
		if err := json.Unmarshal(body, &lr); err != nil {
			t.Fatal(err)
		}
		e.remember(lr.Token)
		if lr.User.UID != alice.UID || !tokenRE.MatchString(lr.Token) || lr.Token == aliceTok || lr.Token == adminTok {
			t.Fatalf("loginOther response %+v", lr)
		}
		e.wantWhoAmI(t, lr.Token, "alice")
		e.wantWhoAmI(t, adminTok, "admin")
	})

	for _, tc := range []struct {
		name   string
		token  string
		body   string
		ctype  string
		status int
		code   string
	}{
		{"non-admin", aliceTok, `{"userName":"bob"}`, "application/json", 403, "AuthAccessDenied"},
		{"project manager", bobTok, `{"userName":"alice"}`, "application/json", 403, "AuthAccessDenied"},
		{"unknown user", adminTok, `{"userName":"nobody"}`, "application/json", 404, "UserNotFound"},
		{"user of another organization", adminTok, `{"userName":"carol"}`, "application/json", 404, "UserNotFound"},
		{"missing userName", adminTok, `{}`, "application/json", 400, "BadRequest"},
		{"empty userName", adminTok, `{"userName":""}`, "application/json", 400, "BadRequest"},
		{"userName not a string", adminTok, `{"userName":5}`, "application/json", 400, "BadRequest"},
		{"malformed JSON", adminTok, `{"userName":`, "application/json", 400, "BadRequest"},
		{"wrong content type", adminTok, `userName=alice`, "application/x-www-form-urlencoded", 415, "UnsupportedMediaType"},
		{"no token", "", `{"userName":"alice"}`, "application/json", 401, "AuthUnauthorized"},
		{"bad token", strings.Repeat("x", 64), `{"userName":"alice"}`, "application/json", 401, "AuthUnauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{"Content-Type", tc.ctype}
			if tc.token != "" {
				hdr = append(hdr, "Authorization", "ApiToken "+tc.token)
			}
			resp, body := e.request(t, http.MethodPost, otherPath, strings.NewReader(tc.body), hdr...)
			te := wantTMSError(t, resp, body, tc.status, tc.code)
			if tc.status == 400 && strings.Contains(tc.name, "userName") && !strings.Contains(te.ErrorDescription, "userName") {
				t.Errorf("errorDescription %q does not name userName", te.ErrorDescription)
			}
		})
	}
	// 3 logins + 1 loginOther; the refused calls minted nothing.
	if n := e.countAPITokens(t); n != 4 {
		t.Errorf("%d ApiTokens stored, want 4", n)
	}
}

// TestLoginErrors: bad input gets the TMS error shape with the right status
// and mints no token; an unknown user is indistinguishable from a wrong
// password (T35, T43).
func TestLoginErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "alice", store.RoleLinguist, alicePassword)
	huge := `{"userName":"alice","password":"` + strings.Repeat("a", 1<<20) + `"}`
	t.Run("cases", func(t *testing.T) { loginErrorCases(t, e, huge) })
	if n := e.countAPITokens(t); n != 0 {
		t.Errorf("bad logins stored %d ApiTokens, want 0", n)
	}
	lr := e.login(t, "", "alice", alicePassword) // a fresh login still works
	e.wantWhoAmI(t, lr.Token, "alice")
}

func loginErrorCases(t *testing.T, e *env, huge string) {
	for _, tc := range []struct {
		name   string
		ctype  string
		body   string
		status int
		code   string
		field  string // must appear in errorDescription
	}{
		{"wrong password", "application/json", loginBody("alice", "wrong-password"), 401, "AuthInvalidCredentials", ""},
		{"unknown user", "application/json", loginBody("nobody", "wrong-password"), 401, "AuthInvalidCredentials", ""},
		{"overlong password", "application/json", loginBody("alice", strings.Repeat("p", 2000)), 401, "AuthInvalidCredentials", ""},
		{"malformed JSON", "application/json", `{"userName":"alice",`, 400, "BadRequest", ""},
		{"not JSON", "application/json", `userName=alice&password=x`, 400, "BadRequest", ""},
		{"empty body", "application/json", ``, 400, "BadRequest", ""},
		{"JSON array", "application/json", `[]`, 400, "BadRequest", ""},
		{"trailing data", "application/json", loginBody("alice", alicePassword) + `{}`, 400, "BadRequest", ""},
		{"two objects", "application/json", loginBody("alice", alicePassword) + loginBody("alice", alicePassword), 400, "BadRequest", ""},
		{"form content type", "application/x-www-form-urlencoded", loginBody("alice", alicePassword), 415, "UnsupportedMediaType", ""},
		{"text/plain", "text/plain", loginBody("alice", alicePassword), 415, "UnsupportedMediaType", ""},
		{"no content type", "", loginBody("alice", alicePassword), 415, "UnsupportedMediaType", ""},
		{"body over 1 MiB", "application/json", huge, 413, "RequestTooLarge", ""},
		{"missing userName", "application/json", `{"password":"x"}`, 400, "BadRequest", "userName"},
		{"empty userName", "application/json", `{"userName":"","password":"x"}`, 400, "BadRequest", "userName"},
		{"null userName", "application/json", `{"userName":null,"password":"x"}`, 400, "BadRequest", "userName"},
		{"missing password", "application/json", `{"userName":"alice"}`, 400, "BadRequest", "password"},
		{"empty password", "application/json", `{"userName":"alice","password":""}`, 400, "BadRequest", "password"},
		{"userName a number", "application/json", `{"userName":5,"password":"x"}`, 400, "BadRequest", "userName"},
		{"password an object", "application/json", `{"userName":"alice","password":{}}`, 400, "BadRequest", "password"},
		{"null body", "application/json", `null`, 400, "BadRequest", "userName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hdr := []string{}
			if tc.ctype != "" {
				hdr = append(hdr, "Content-Type", tc.ctype)
			}
			resp, body := e.request(t, http.MethodPost, loginPath, strings.NewReader(tc.body), hdr...)
			te := wantTMSError(t, resp, body, tc.status, tc.code)
			if !strings.Contains(te.ErrorDescription, tc.field) {
				t.Errorf("errorDescription %q does not name %q", te.ErrorDescription, tc.field)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if strings.Contains(string(body), alicePassword) || strings.Contains(string(body), "wrong-password") {
				t.Errorf("error body echoes the password: %s", body)
			}
		})
	}

	t.Run("unknown user answers like a wrong password", func(t *testing.T) {
		t.Parallel()
		r1, b1 := e.postJSON(t, loginPath, loginBody("alice", "not-her-password"))
		r2, b2 := e.postJSON(t, loginPath, loginBody("no-such-user", "not-her-password"))
		if r1.StatusCode != r2.StatusCode || !bytes.Equal(b1, b2) {
			t.Errorf("wrong password: %d %s; unknown user: %d %s", r1.StatusCode, b1, r2.StatusCode, b2)
		}
		for _, h := range []string{"Content-Type", "WWW-Authenticate", "Cache-Control"} {
			if r1.Header.Get(h) != r2.Header.Get(h) {
				t.Errorf("%s differs: %q vs %q", h, r1.Header.Get(h), r2.Header.Get(h))
			}
		}
	})
}

// TestLoginRateLimitPerUser: failures throttle that user name (from any
// address), even for the right password, with 429 + Retry-After; others
// are unaffected; the limit refills with time (T37).
func TestLoginRateLimitPerUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tolktest.Options{Config: func(c *config.Config) {
		c.LoginUserBurst = 3
		c.LoginUserInterval = time.Minute
	}})
	e.createUser(t, "alice", store.RoleLinguist, alicePassword)
	e.createUser(t, "bob", store.RoleLinguist, bobPassword)

	for i := range 3 {
		resp, body := e.postJSON(t, loginPath, loginBody("alice", "wrong-"+strconv.Itoa(i)))
		wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthInvalidCredentials")
	}
	for _, name := range []string{"alice", "ALICE"} { // the key is the folded user name
		resp, body := e.postJSON(t, loginPath, loginBody(name, alicePassword))
		wantTMSError(t, resp, body, http.StatusTooManyRequests, "TooManyRequests")
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra <= 0 {
			t.Errorf("Retry-After %q, want a positive number of seconds", resp.Header.Get("Retry-After"))
		}
	}
	e.wantWhoAmI(t, e.login(t, "", "bob", bobPassword).Token, "bob")

	e.Clock.Advance(time.Minute)
	e.wantWhoAmI(t, e.login(t, "", "alice", alicePassword).Token, "alice")

	out := metric(t, e, `tolk_logins_total{dialect="tms",outcome="throttled"}`)
	if out != "2" {
		t.Errorf("throttled logins counted %q, want 2", out)
	}
}

// TestLoginRateLimitPerAddress: failures with many user names from one
// address throttle that address (T37).
func TestLoginRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, tolktest.Options{Config: func(c *config.Config) {
		c.LoginIPBurst = 3
		c.LoginIPInterval = 10 * time.Second
	}})
	for i := range 3 {
		resp, body := e.postJSON(t, loginPath, loginBody("user"+strconv.Itoa(i), "wrong-password"))
		wantTMSError(t, resp, body, http.StatusUnauthorized, "AuthInvalidCredentials")
	}
	for _, name := range []string{"user9", "admin"} {
		resp, body := e.postJSON(t, loginPath, loginBody(name, tolktest.AdminPassword))
		wantTMSError(t, resp, body, http.StatusTooManyRequests, "TooManyRequests")
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra <= 0 {
			t.Errorf("Retry-After %q, want a positive number of seconds", resp.Header.Get("Retry-After"))
		}
	}
	e.Clock.Advance(10 * time.Second)
	e.wantWhoAmI(t, e.login(t, "", "admin", tolktest.AdminPassword).Token, "admin")
}

// TestWebSignOutEndsEveryAPIToken: signing out of the web UI invalidates
// every ApiToken of that user at once, and only of that user (T38).
func TestWebSignOutEndsEveryAPIToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(t, "alice", store.RoleLinguist, alicePassword)
	e.createUser(t, "bob", store.RoleLinguist, bobPassword)
	a1 := e.login(t, "", "alice", alicePassword).Token
	a2 := e.login(t, webLoginPath, "alice", alicePassword).Token
	b1 := e.login(t, "", "bob", bobPassword).Token
	adm := e.login(t, "", "admin", tolktest.AdminPassword).Token

	e.Clock.Advance(time.Hour)
	b := newBrowser(t, e)
	b.signIn(t, "alice", alicePassword)
	resp, body := b.do(t, http.MethodGet, "/", nil)
	m := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("home page: %d, csrf found %v", resp.StatusCode, m != nil)
	}
	resp, _ = b.do(t, http.MethodPost, "/logout", url.Values{"csrf_token": {m[1]}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("web logout: status %d, want 303", resp.StatusCode)
	}

	e.wantRefused(t, a1)
	e.wantRefused(t, a2)
	e.wantWhoAmI(t, b1, "bob")
	e.wantWhoAmI(t, adm, "admin")

	lr := e.login(t, "", "alice", alicePassword)
	want := startTime.Add(time.Hour).Format(tms.ExpiresLayout)
	if lr.LastInvalidateAllSessionsPerformed == nil || *lr.LastInvalidateAllSessionsPerformed != want {
		t.Errorf("lastInvalidateAllSessionsPerformed = %v, want %q", lr.LastInvalidateAllSessionsPerformed, want)
	}
	e.wantWhoAmI(t, lr.Token, "alice")
	if bl := e.login(t, "", "bob", bobPassword); bl.LastInvalidateAllSessionsPerformed != nil {
		t.Errorf("bob's lastInvalidateAllSessionsPerformed = %q, want null", *bl.LastInvalidateAllSessionsPerformed)
	}
}

// browser is a minimal cookie-keeping client that does not follow redirects.
type browser struct {
	e       *env
	c       *http.Client
	cookies map[string]string
}

func newBrowser(t *testing.T, e *env) *browser {
	c := *e.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{e: e, c: &c, cookies: map[string]string{}}
}

func (b *browser) do(t *testing.T, method, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for n, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: n, Value: v})
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return resp, string(rb)
}

func (b *browser) signIn(t *testing.T, user, pw string) {
	t.Helper()
	resp, body := b.do(t, http.MethodGet, "/login", nil)
	m := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /login: %d, csrf found %v", resp.StatusCode, m != nil)
	}
	resp, body = b.do(t, http.MethodPost, "/login", url.Values{"csrf_token": {m[1]}, "username": {user}, "password": {pw}})
	if resp.StatusCode != http.StatusSeeOther || b.cookies["tolk_session"] == "" {
		t.Fatalf("POST /login: %d, session cookie %v: %s", resp.StatusCode, b.cookies["tolk_session"] != "", body)
	}
	b.e.remember(b.cookies["tolk_session"])
}

// metric returns the value of one exposition line of /metrics.
func metric(t *testing.T, e *env, series string) string {
	t.Helper()
	resp, body := e.request(t, http.MethodGet, "/metrics", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}

func identityUser(orgUID, name string) identity.NewUser {
	return identity.NewUser{OrgUID: orgUID, UserName: name, Email: name + "@example.com", Role: store.RoleLinguist, Password: name + "-password-1"}
}
