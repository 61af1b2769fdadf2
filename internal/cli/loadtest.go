package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tolk-project/tolk/internal/kit/loadgen"
)

// loadtestCmd is `tolk loadtest`: a bounded, mixed workload of every
// dialect against a running tolk on this machine (SPEC §7, issue 6).
//
// Everything it needs is set up through tolk's public surface, signed in
// as an admin: an ApiToken from the TMS login, a PAT from
// POST /v2/authorizations, and, through the admin's web session (the real
// forms, with their CSRF tokens), an OAuth app with client_credentials, a
// ProZ API key and a Platform API token. --client-id/--client-secret and
// --api-key use existing credentials instead. What it created is deleted
// or revoked at the end; the web session is left to expire, because
// signing out of the web UI would end every ApiToken of the admin (TMS).
type loadtestCmd struct {
	URL           string        `name:"url" default:"http://127.0.0.1:8080" help:"Base URL of the running tolk (loopback only)."`
	Duration      time.Duration `default:"10s" help:"How long to send load."`
	Requests      int64         `help:"Stop after this many requests in total (0: only --duration bounds the run)."`
	Connections   int           `default:"16" help:"Concurrent connections, shared among the kinds of request."`
	AdminUser     string        `name:"admin-user" default:"admin" help:"Admin user to set up with."`
	AdminPassword string        `name:"admin-password" help:"Its password (default: env TOLK_ADMIN_PASSWORD)."`
	ClientID      string        `name:"client-id" help:"Use this confidential OAuth app (with client_credentials) instead of registering one."`
	ClientSecret  string        `name:"client-secret" help:"Its secret."`
	APIKey        string        `name:"api-key" help:"Use this ProZ API key instead of creating one."`
	APIKeyHeader  string        `name:"api-key-header" default:"X-Proz-API-Key" help:"Header carrying ProZ API keys (tolk's api_key_header)."`
}

// ltKind is one kind of request of the mixed workload.
type ltKind struct {
	name  string
	build loadgen.Request
}

// ltResult is one kind's outcome.
type ltResult struct {
	loadgen.Result
	err error
}

func loadtestRun(ctx context.Context, c loadtestCmd, io IO) error {
	base := strings.TrimRight(c.URL, "/")
	if err := loadgen.CheckLoopback(base); err != nil {
		return err
	}
	if c.Duration <= 0 {
		return errors.New("--duration must be positive")
	}
	if c.Connections <= 0 {
		return errors.New("--connections must be positive")
	}
	if (c.ClientID == "") != (c.ClientSecret == "") {
		return errors.New("--client-id and --client-secret go together")
	}
	pw := c.AdminPassword
	if pw == "" && io.Env != nil {
		pw = io.Env("TOLK_ADMIN_PASSWORD")
	}
	if pw == "" {
		return errors.New("an admin password is needed: --admin-password or TOLK_ADMIN_PASSWORD")
	}
	s, err := newLTSession(base)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stderr, "tolk loadtest: setting up against %s as %q\n", base, c.AdminUser)
	fx, err := s.setup(ctx, c, pw)
	defer func() {
		if cerr := s.cleanup(context.WithoutCancel(ctx), fx); cerr != nil {
			fmt.Fprintln(io.Stderr, "tolk loadtest: cleanup:", cerr)
		}
	}()
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	kinds := fx.kinds(base, c.APIKeyHeader)
	fmt.Fprintf(io.Stderr, "tolk loadtest: %d kinds of request, %d connections, for %s", len(kinds), max(c.Connections, len(kinds)), c.Duration)
	if c.Requests > 0 {
		fmt.Fprintf(io.Stderr, " or %d requests", c.Requests)
	}
	fmt.Fprintln(io.Stderr)

	results := runMixed(ctx, base, kinds, c)
	return report(io.Stdout, kinds, results, c.Duration)
}

// runMixed runs every kind at the same time, each on its share of the
// connections and of the request bound, so that the server sees a mix.
func runMixed(ctx context.Context, base string, kinds []ltKind, c loadtestCmd) []ltResult {
	results := make([]ltResult, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		conns := c.Connections / len(kinds)
		if i < c.Connections%len(kinds) {
			conns++
		}
		var maxReq int64
		if c.Requests > 0 {
			maxReq = c.Requests / int64(len(kinds))
			if int64(i) < c.Requests%int64(len(kinds)) {
				maxReq++
			}
			maxReq = max(maxReq, 1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := loadgen.Run(ctx, base, k.build, loadgen.Options{Connections: max(conns, 1), Duration: c.Duration, MaxRequests: maxReq})
			results[i] = ltResult{r, err}
		}()
	}
	wg.Wait()
	return results
}

// report prints the table and fails on any error.
func report(w io.Writer, kinds []ltKind, results []ltResult, d time.Duration) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\trequests\treq/s\tp50\tp99\terrors\t")
	var total, errs int64
	var failures []string
	for i, k := range kinds {
		r := results[i]
		if r.err != nil {
			errs++
			failures = append(failures, fmt.Sprintf("%s: %v", k.name, r.err))
			fmt.Fprintf(tw, "%s\t0\t0\t-\t-\t1\t\n", k.name)
			continue
		}
		total += r.Requests
		errs += r.Errors
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t\n", k.name, r.Requests, r.RPS(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors)
		if r.Errors > 0 {
			failures = append(failures, fmt.Sprintf("%s: %d errors, first: %s", k.name, r.Errors, r.FirstErr))
		}
	}
	fmt.Fprintf(tw, "total\t%d\t%.0f\t\t\t%d\t\n", total, float64(total)/d.Seconds(), errs)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range failures {
		fmt.Fprintln(w, f)
	}
	if errs > 0 {
		return fmt.Errorf("%d errors", errs)
	}
	return nil
}

// ltFixtures are the credentials the workload uses, and what to remove
// afterwards.
type ltFixtures struct {
	apiToken           string // TMS ApiToken
	patID, pat         string // Strings PAT
	clientID, clientSc string
	createdClient      bool
	accessToken        string // a client_credentials token to introspect
	apiKey, apiKeyID   string // ProZ API key (ID set when created here)
	platformToken      string // Platform API token, for token exchange
	platformTokenID    string
	jwt                string // a JWT exchanged from it
	csrf               string // the web session's CSRF token
	basic              string // the admin's HTTP Basic credentials (PATs are managed with them)
}

func (f *ltFixtures) kinds(base, apiKeyHeader string) []ltKind {
	get := func(path, header, value string) loadgen.Request {
		return func(int, int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodGet, base+path, nil)
			if err == nil {
				req.Header.Set(header, value)
			}
			return req, err
		}
	}
	post := func(path string, form url.Values, basic bool) loadgen.Request {
		body := form.Encode()
		return func(int, int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if basic {
				req.SetBasicAuth(url.QueryEscape(f.clientID), url.QueryEscape(f.clientSc))
			}
			return req, nil
		}
	}
	return []ltKind{
		{"tms whoAmI (ApiToken)", get("/api2/v1/auth/whoAmI", "Authorization", "ApiToken "+f.apiToken)},
		{"strings /v2/user (PAT)", get("/v2/user", "Authorization", "token "+f.pat)},
		{"proz /user (API key)", get("/user", apiKeyHeader, f.apiKey)},
		{"oauth client_credentials", post("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, true)},
		{"oauth introspection", post("/oauth/introspect", url.Values{"token": {f.accessToken}}, true)},
		{"platform token exchange", post("/oauth/token", url.Values{
			"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {f.platformToken}}, false)},
		{"whoAmI (Platform JWT)", get("/api2/v1/auth/whoAmI", "Authorization", "Bearer "+f.jwt)},
	}
}

// ltSession is the admin's cookie-keeping client for setup; it does not
// follow redirects, so each step sees tolk's own answer.
type ltSession struct {
	base   string
	client *http.Client
}

func newLTSession(base string) (*ltSession, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	return &ltSession{base: base, client: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// do sends a request and returns status and body. Setup requests carry no
// Origin header, as a same-origin form post from an older browser would
// not; tolk then relies on the CSRF token, which every form post sends.
func (s *ltSession) do(ctx context.Context, method, path string, body io.Reader, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, err
}

func (s *ltSession) jsonReq(ctx context.Context, method, path string, in any, hdr map[string]string, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
		if hdr == nil {
			hdr = map[string]string{}
		}
		hdr["Content-Type"] = "application/json"
	}
	status, b, err := s.do(ctx, method, path, body, hdr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, status, want, snippet(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

func (s *ltSession) form(ctx context.Context, path string, v url.Values, basic [2]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, err
}

// page GETs an HTML page of the signed-in admin and remembers its CSRF
// token.
func (s *ltSession) page(ctx context.Context, fx *ltFixtures, path string) (string, error) {
	status, b, err := s.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("GET %s: status %d (is the user an admin?)", path, status)
	}
	if m := csrfRE.FindSubmatch(b); m != nil {
		fx.csrf = html.UnescapeString(string(m[1]))
	}
	return string(b), nil
}

// submit posts a settings form with the session's CSRF token.
func (s *ltSession) submit(ctx context.Context, fx *ltFixtures, path string, v url.Values) (int, string, error) {
	v.Set("csrf_token", fx.csrf)
	status, b, err := s.form(ctx, path, v, [2]string{})
	if err != nil {
		return 0, "", fmt.Errorf("POST %s: %w", path, err)
	}
	return status, string(b), nil
}

// submitShown posts a form that creates a secret and returns the page
// showing it: tolk answers such posts with a 303 to that page
// (post/redirect/get; the secret follows in a sealed one-time cookie).
func (s *ltSession) submitShown(ctx context.Context, fx *ltFixtures, path string, v url.Values) (int, string, error) {
	v.Set("csrf_token", fx.csrf)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("POST %s: %w", path, err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		return resp.StatusCode, string(b), err
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
		return 0, "", fmt.Errorf("POST %s: redirected off the site to %q", path, loc)
	}
	status, b, err := s.do(ctx, http.MethodGet, loc, nil, nil)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", loc, err)
	}
	return status, string(b), nil
}

var (
	csrfRE         = regexp.MustCompile(`<input type="hidden" name="csrf_token" value="([^"]*)">`)
	clientIDRE     = regexp.MustCompile(`<code id="client_id">([^<]*)</code>`)
	clientSecretRE = regexp.MustCompile(`<code id="client_secret">([^<]*)</code>`)
	newKeyRE       = regexp.MustCompile(`<input id="new_key"[^>]* value="([^"]*)"`)
	keyIDRE        = regexp.MustCompile(`(?:action|href)="/settings/api-keys/([^"/]+)/revoke"`)
	newTokenRE     = regexp.MustCompile(`<input id="new-token"[^>]* value="([^"]*)"`)
	tokenIDRE      = regexp.MustCompile(`(?:action|href)="/settings/access-tokens/([^"/]+)/revoke"`)
	userOptionRE   = regexp.MustCompile(`<option value="([^"]*)"[^>]*>([^<]*)</option>`)
)

func find(re *regexp.Regexp, body string) string {
	if m := re.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// ids returns every id re captures in body.
func ids(re *regexp.Regexp, body string) map[string]bool {
	out := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out[html.UnescapeString(m[1])] = true
	}
	return out
}

// newID is the one id of after that was not in before.
func newID(before, after map[string]bool) string {
	for id := range after {
		if !before[id] {
			return id
		}
	}
	return ""
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (s *ltSession) setup(ctx context.Context, c loadtestCmd, pw string) (*ltFixtures, error) {
	fx := &ltFixtures{clientID: c.ClientID, clientSc: c.ClientSecret, apiKey: c.APIKey}
	label := "tolk loadtest " + time.Now().UTC().Format("2006-01-02 15:04:05")

	// TMS: one login (logins are rate-limited, so the workload reuses the
	// token, as TMS asks of its clients).
	var login struct {
		Token string `json:"token"`
	}
	if err := s.jsonReq(ctx, http.MethodPost, "/api2/v1/auth/login", map[string]string{"userName": c.AdminUser, "password": pw}, nil, http.StatusOK, &login); err != nil {
		return fx, fmt.Errorf("TMS login: %w", err)
	}
	fx.apiToken = login.Token

	// Strings: a PAT without scopes (it identifies the user at /v2/user).
	var pat struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	fx.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.AdminUser+":"+pw))
	basic := map[string]string{"Authorization": fx.basic}
	if err := s.jsonReq(ctx, http.MethodPost, "/v2/authorizations", map[string]any{"note": label}, basic, http.StatusCreated, &pat); err != nil {
		return fx, fmt.Errorf("creating a PAT: %w", err)
	}
	fx.patID, fx.pat = pat.ID, pat.Token

	// The web UI, signed in as the admin.
	if _, err := s.page(ctx, fx, "/login"); err != nil {
		return fx, err
	}
	status, _, err := s.submit(ctx, fx, "/login", url.Values{"username": {c.AdminUser}, "password": {pw}})
	if err != nil {
		return fx, err
	}
	if status != http.StatusSeeOther {
		return fx, fmt.Errorf("web sign-in: status %d (a user with two-factor authentication cannot be used here)", status)
	}

	if fx.clientID == "" {
		if _, err := s.page(ctx, fx, "/settings/oauth-apps/new"); err != nil {
			return fx, err
		}
		status, body, err := s.submitShown(ctx, fx, "/settings/oauth-apps/new", url.Values{
			"name": {label}, "description": {"Created by tolk loadtest; deleted when it ends."},
			"grant_types": {"client_credentials"},
		})
		if err != nil {
			return fx, err
		}
		fx.clientID, fx.clientSc = find(clientIDRE, body), find(clientSecretRE, body)
		if status != http.StatusOK || fx.clientID == "" || fx.clientSc == "" {
			return fx, fmt.Errorf("registering an OAuth app: status %d", status)
		}
		fx.createdClient = true
	}

	if fx.apiKey == "" {
		body, err := s.page(ctx, fx, "/settings/api-keys")
		if err != nil {
			return fx, err
		}
		before := ids(keyIDRE, body)
		uid := ""
		for _, m := range userOptionRE.FindAllStringSubmatch(body, -1) {
			if strings.EqualFold(html.UnescapeString(m[2]), c.AdminUser) {
				uid = html.UnescapeString(m[1])
			}
		}
		if uid == "" {
			return fx, fmt.Errorf("creating an API key: %q is not in the user list", c.AdminUser)
		}
		status, body, err := s.submitShown(ctx, fx, "/settings/api-keys", url.Values{"user": {uid}, "note": {label}})
		if err != nil {
			return fx, err
		}
		fx.apiKey, fx.apiKeyID = find(newKeyRE, body), newID(before, ids(keyIDRE, body))
		if status != http.StatusOK || fx.apiKey == "" {
			return fx, fmt.Errorf("creating an API key: status %d", status)
		}
	}

	body, err := s.page(ctx, fx, "/settings/access-tokens")
	if err != nil {
		return fx, err
	}
	before := ids(tokenIDRE, body)
	status, body, err = s.submitShown(ctx, fx, "/settings/access-tokens", url.Values{"name": {label}})
	if err != nil {
		return fx, err
	}
	fx.platformToken, fx.platformTokenID = find(newTokenRE, body), newID(before, ids(tokenIDRE, body))
	if status != http.StatusOK || fx.platformToken == "" {
		return fx, fmt.Errorf("creating a Platform API token: status %d", status)
	}

	// One token of each OAuth kind to present during the run.
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	st, b, err := s.form(ctx, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, [2]string{fx.clientID, fx.clientSc})
	if err != nil || st != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		return fx, fmt.Errorf("client_credentials: status %d %v: %s", st, err, snippet(b))
	}
	fx.accessToken = tok.AccessToken
	tok.AccessToken = ""
	st, b, err = s.form(ctx, "/oauth/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {fx.platformToken}}, [2]string{})
	if err != nil || st != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		return fx, fmt.Errorf("token exchange: status %d %v: %s", st, err, snippet(b))
	}
	fx.jwt = tok.AccessToken
	return fx, nil
}

// cleanup removes what setup created, as far as it got.
func (s *ltSession) cleanup(ctx context.Context, fx *ltFixtures) error {
	if fx == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	check := func(what string, status int, err error, want ...int) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
			return
		}
		for _, w := range want {
			if status == w {
				return
			}
		}
		errs = append(errs, fmt.Errorf("%s: status %d", what, status))
	}
	if fx.createdClient {
		st, _, err := s.submit(ctx, fx, "/settings/oauth-apps/"+url.PathEscape(fx.clientID)+"/delete", url.Values{"confirm": {"1"}}) // the confirmation's own post
		check("deleting the OAuth app", st, err, http.StatusSeeOther)
	}
	if fx.apiKeyID != "" {
		st, _, err := s.submit(ctx, fx, "/settings/api-keys/"+url.PathEscape(fx.apiKeyID)+"/revoke", url.Values{"confirm": {"1"}})
		check("revoking the API key", st, err, http.StatusSeeOther, http.StatusOK)
	}
	if fx.platformTokenID != "" {
		st, _, err := s.submit(ctx, fx, "/settings/access-tokens/"+url.PathEscape(fx.platformTokenID)+"/revoke", url.Values{"confirm": {"1"}})
		check("revoking the Platform API token", st, err, http.StatusSeeOther, http.StatusOK)
	}
	if fx.patID != "" {
		st, _, err := s.do(ctx, http.MethodDelete, "/v2/authorizations/"+url.PathEscape(fx.patID), nil,
			map[string]string{"Authorization": fx.basic})
		check("deleting the PAT", st, err, http.StatusNoContent)
	}
	if fx.apiToken != "" {
		st, _, err := s.do(ctx, http.MethodPost, "/api2/v1/auth/logout", nil, map[string]string{"Authorization": "ApiToken " + fx.apiToken})
		check("TMS logout", st, err, http.StatusNoContent)
	}
	return errors.Join(errs...)
}
