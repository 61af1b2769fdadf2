package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
)

// downStore answers the credential and user lookups, and token inserts,
// with store.ErrUnavailable while down is set: the database is
// unreachable (the backend has already retried).
type downStore struct {
	store.Store
	down *atomic.Bool
}

func (s downStore) fail() error { return fmt.Errorf("test: %w", store.ErrUnavailable) }

func (s downStore) GetAPIToken(ctx context.Context, h string) (store.APIToken, error) {
	if s.down.Load() {
		return store.APIToken{}, s.fail()
	}
	return s.Store.GetAPIToken(ctx, h)
}

func (s downStore) GetAccessToken(ctx context.Context, h string) (store.AccessToken, error) {
	if s.down.Load() {
		return store.AccessToken{}, s.fail()
	}
	return s.Store.GetAccessToken(ctx, h)
}

func (s downStore) CreateAccessToken(ctx context.Context, t store.AccessToken) error {
	if s.down.Load() {
		return s.fail()
	}
	return s.Store.CreateAccessToken(ctx, t)
}

func (s downStore) GetClient(ctx context.Context, id string) (store.Client, error) {
	if s.down.Load() {
		return store.Client{}, s.fail()
	}
	return s.Store.GetClient(ctx, id)
}

func (s downStore) GetUserByUserName(ctx context.Context, n string) (store.User, error) {
	if s.down.Load() {
		return store.User{}, s.fail()
	}
	return s.Store.GetUserByUserName(ctx, n)
}

func (s downStore) GetUserByEmail(ctx context.Context, e string) (store.User, error) {
	if s.down.Load() {
		return store.User{}, s.fail()
	}
	return s.Store.GetUserByEmail(ctx, e)
}

func (s downStore) GetPATByHash(ctx context.Context, h string) (store.PersonalAccessToken, error) {
	if s.down.Load() {
		return store.PersonalAccessToken{}, s.fail()
	}
	return s.Store.GetPATByHash(ctx, h)
}

func (s downStore) GetAPIKeyByHash(ctx context.Context, h string) (store.APIKey, error) {
	if s.down.Load() {
		return store.APIKey{}, s.fail()
	}
	return s.Store.GetAPIKeyByHash(ctx, h)
}

// TestDatabaseUnavailable: while the database is unreachable every dialect
// answers 503 with Retry-After in its own error shape (never 500), and
// /auth/verify answers 401 with Retry-After (nginx turns a 503 of an auth
// subrequest into a 500). No request logs an internal error.
func TestDatabaseUnavailable(t *testing.T) {
	var down atomic.Bool
	s := tolktest.New(t, tolktest.Options{
		WrapStore: func(st store.Store) store.Store { return downStore{st, &down} },
		Config:    func(c *config.Config) { c.VerifyCacheTTL = 0 },
	})
	u := s.CreateUser(t, "ann", store.RoleLinguist, "ann-password-123")
	apiToken := verifytest.APIToken(t, s, "ann", "ann-password-123")
	pat := verifytest.PAT(t, s, u)
	apiKey := verifytest.APIKey(t, s, u)
	org, err := s.Store.DefaultOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	client, secret, err := s.Tolk.Authz.CreateClient(t.Context(), authz.ClientSpec{OrgUID: org.UID, Name: "outage",
		GrantTypes: []string{"client_credentials", "authorization_code"}, RedirectURIs: []string{"https://app.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	clientID := client.ID
	down.Store(true)

	req := func(method, path, body string, hdr ...string) *http.Request {
		r, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name   string
		req    *http.Request
		status int
		body   []string // substrings of the body, the dialect's shape
	}{
		{"OAuth client_credentials", req("POST", "/oauth/token", "grant_type=client_credentials&client_id="+url.QueryEscape(clientID)+"&client_secret="+url.QueryEscape(secret), "Content-Type", form),
			503, []string{`"error":"temporarily_unavailable"`}},
		{"TMS whoAmI", req("GET", "/api2/v1/auth/whoAmI", "", "Authorization", "ApiToken "+apiToken),
			503, []string{`"errorCode":"ServiceUnavailable"`}},
		{"TMS login", req("POST", "/api2/v1/auth/login", `{"userName":"ann","password":"ann-password-123"}`, "Content-Type", "application/json"),
			503, []string{`"errorCode":"ServiceUnavailable"`}},
		{"Strings authorizations", req("GET", "/v2/authorizations", "", "Authorization", basic("ann", "ann-password-123")),
			503, []string{`"message":"Service Unavailable"`}},
		{"Strings user", req("GET", "/v2/user", "", "Authorization", "token "+pat),
			503, []string{`"error":"temporarily_unavailable"`}},
		{"ProZ user (API key)", req("GET", "/user", "", "X-Proz-API-Key", apiKey),
			503, []string{`"error":"temporarily_unavailable"`, `"success":0`}},
		{"web authorize", req("GET", "/oauth/authorize?response_type=code&client_id="+url.QueryEscape(clientID)+"&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", ""),
			503, []string{"temporarily unavailable"}},
		{"forward auth", req("GET", "/auth/verify", "", "Authorization", "ApiToken "+apiToken),
			401, []string{`"error":"invalid_token"`, "cannot be checked now"}},
	}
	for _, tt := range tests {
		resp, body := s.Do(t, tt.req)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
			continue
		}
		if ra := resp.Header.Get("Retry-After"); ra == "" {
			t.Errorf("%s: no Retry-After", tt.name)
		}
		for _, want := range tt.body {
			if !strings.Contains(string(body), want) {
				t.Errorf("%s: body %s lacks %s", tt.name, body, want)
			}
		}
		if tt.status == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate %q", tt.name, resp.Header.Get("WWW-Authenticate"))
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && !json.Valid(body) {
			t.Errorf("%s: body is not JSON: %s", tt.name, body)
		}
	}
	// The web sign-in: its page needs no database; the sign-in does.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(s.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token on the sign-in page: %d", resp.StatusCode)
	}
	resp, err = browser.PostForm(s.URL+"/login", url.Values{"csrf_token": {string(m[1])}, "username": {"ann"}, "password": {"ann-password-123"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(page), "temporarily unavailable") {
		t.Errorf("web sign-in: %d, Retry-After %q, page %.300s", resp.StatusCode, resp.Header.Get("Retry-After"), page)
	}

	if logs := s.Logs.String(); strings.Contains(logs, "internal error") {
		t.Errorf("the outage was logged as internal errors:\n%s", logs)
	}

	// Back: the same requests succeed.
	down.Store(false)
	resp, body := s.Do(t, req("GET", "/api2/v1/auth/whoAmI", "", "Authorization", "ApiToken "+apiToken))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("whoAmI after the outage: %d %s", resp.StatusCode, body)
	}
}
