package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tolk-project/tolk/docs"
	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// loadOpenAPI loads docs/openapi.yaml (embedded by package docs) and
// validates it as the OpenAPI version it declares (3.1: kin-openapi checks
// its schemas as JSON Schema 2020-12).
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatalf("docs/openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// TestOpenAPIDocument: the document is OpenAPI 3.1, valid, and every
// operation has an id, a tag and the answers it may give.
func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi: %q, want 3.1.0", doc.OpenAPI)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" || len(op.Tags) == 0 || op.Responses.Len() == 0 {
				t.Errorf("%s %s: needs operationId, tags and responses", method, path)
			}
		}
	}
	for _, name := range []string{"ApiToken", "ApiTokenQuery", "Bearer", "StringsToken", "Basic", "ProZAPIKey", "ClientBasic"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("security scheme %s missing", name)
		}
	}
	for _, name := range []string{"TMSError", "OAuthError", "StringsMessage", "StringsValidationError", "ProZAPIKeyError", "ForwardAuthError"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("error schema %s missing", name)
		}
	}
}

// docPath is the OpenAPI path of a routes-table pattern's path: "{$}"
// (exactly this path) is the path itself, and a trailing-slash subtree
// ("/static/") is one named segment.
func docPath(pattern string) string {
	p := strings.ReplaceAll(pattern, "{$}", "")
	if p == "" {
		return "/"
	}
	if p == "/static/" {
		return "/static/{file}"
	}
	return p
}

// TestOpenAPIRoutes: every row of the routes table is an operation of the
// document, and every operation of the document is a row: neither can
// gain an endpoint the other lacks.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	s := tolktest.New(t)
	rows := map[string]bool{}
	for _, r := range s.Tolk.Routes() {
		method, path, _ := strings.Cut(r.Pattern, " ")
		key := method + " " + docPath(path)
		rows[key] = true
		item := doc.Paths.Value(docPath(path))
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %q is not in docs/openapi.yaml (as %s)", r.Pattern, key)
		}
	}
	if len(rows) < 50 {
		t.Fatalf("only %d routes", len(rows))
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !rows[method+" "+path] {
				t.Errorf("docs/openapi.yaml describes %s %s, which is no route", method, path)
			}
		}
	}
}

// checker is an http.RoundTripper that validates every request a test
// sends to tolk and every answer tolk gives against the OpenAPI document
// (kin-openapi's openapi3filter): an answer whose status, headers or body
// the document does not describe fails the test. A request marked with
// invalid (a deliberate client error) must be one the document refuses.
type checker struct {
	errorf func(format string, args ...any) // t.Errorf: a finding fails the test
	router routers.Router
	next   http.RoundTripper

	mu   sync.Mutex
	seen map[string][]int // operationId → statuses answered
}

type invalidKey struct{}

// invalid marks req as one the document must refuse.
func invalid(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), invalidKey{}, true))
}

func newChecker(t *testing.T, doc *openapi3.T, base string) *checker {
	t.Helper()
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &checker{errorf: t.Errorf, router: router, next: http.DefaultTransport, seen: map[string][]int{}}
}

// authenticate accepts a security scheme when the request presents its
// credential in that scheme's way. A request with no credential at all is
// let through: the document describes the 401 it gets.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	ss := in.SecurityScheme
	authz := r.Header.Get("Authorization")
	if authz == "" && r.Header.Get("X-Proz-API-Key") == "" && !r.URL.Query().Has("token") && r.Header.Get("Cookie") == "" {
		return nil
	}
	switch ss.Type {
	case "http":
		scheme, _, _ := strings.Cut(authz, " ")
		if strings.EqualFold(scheme, ss.Scheme) {
			return nil
		}
	case "apiKey":
		switch ss.In {
		case "header":
			if r.Header.Get(ss.Name) != "" {
				return nil
			}
		case "query":
			if r.URL.Query().Has(ss.Name) {
				return nil
			}
		case "cookie":
			if _, err := r.Cookie(ss.Name); err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("credential not presented as %s", in.SecuritySchemeName)
}

func (c *checker) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	reset := func(r *http.Request) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	wantInvalid, _ := req.Context().Value(invalidKey{}).(bool)
	what := req.Method + " " + req.URL.RequestURI()

	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.errorf("%s: not in docs/openapi.yaml: %v", what, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: authenticate, IncludeResponseStatus: true, MultiError: true}
	var in *openapi3filter.RequestValidationInput
	if route != nil {
		vr := req.Clone(req.Context())
		reset(vr)
		in = &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: opts}
		err := openapi3filter.ValidateRequest(req.Context(), in)
		switch {
		case wantInvalid && err == nil:
			c.errorf("%s: the document accepts this request, which should be a client error", what)
		case !wantInvalid && err != nil:
			c.errorf("%s: request does not match docs/openapi.yaml: %v", what, err)
		}
	}

	reset(req)
	resp, err := c.next.RoundTrip(req)
	if err != nil || route == nil {
		return resp, err
	}
	rbody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(rbody))
	if err := openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(rbody)), Options: opts,
	}); err != nil {
		c.errorf("%s → %d: answer does not match docs/openapi.yaml: %v\n%s", what, resp.StatusCode, err, rbody)
	}
	// openapi3filter skips the body of an answer described without
	// content: it must then have none (a redirect may carry Go's note).
	if r := route.Operation.Responses.Status(resp.StatusCode); r != nil && len(r.Value.Content) == 0 &&
		len(rbody) > 0 && resp.StatusCode/100 != 3 {
		c.errorf("%s → %d: the document describes no body, got %q", what, resp.StatusCode, rbody)
	}
	c.mu.Lock()
	c.seen[route.Operation.OperationID] = append(c.seen[route.Operation.OperationID], resp.StatusCode)
	c.mu.Unlock()
	return resp, nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// client is an HTTP client through c that does not follow redirects.
func (c *checker) client() *http.Client {
	return &http.Client{Transport: c, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestOpenAPIConformance drives every dialect of a running tolk, in
// success and error cases, through a checker: every request and answer
// must be what docs/openapi.yaml describes, and every operation outside
// the web UI must have been exercised.
func TestOpenAPIConformance(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var down atomic.Bool
			s := tolktest.New(t, tolktest.Options{Postgres: backend == "postgres",
				WrapStore: func(st store.Store) store.Store { return outageStore{st, &down} }})
			testOpenAPIConformance(t, s, &down)
		})
	}
}

// outageStore answers the lookups that start a request of each dialect
// with store.ErrUnavailable while down is set: the database cannot be
// reached (and the backend has retried).
type outageStore struct {
	store.Store
	down *atomic.Bool
}

func (s outageStore) err() error { return fmt.Errorf("openapi test: %w", store.ErrUnavailable) }

func (s outageStore) GetClient(ctx context.Context, id string) (store.Client, error) {
	if s.down.Load() {
		return store.Client{}, s.err()
	}
	return s.Store.GetClient(ctx, id)
}

func (s outageStore) GetUserByUserName(ctx context.Context, n string) (store.User, error) {
	if s.down.Load() {
		return store.User{}, s.err()
	}
	return s.Store.GetUserByUserName(ctx, n)
}

func (s outageStore) GetAPIToken(ctx context.Context, h string) (store.APIToken, error) {
	if s.down.Load() {
		return store.APIToken{}, s.err()
	}
	return s.Store.GetAPIToken(ctx, h)
}

func (s outageStore) GetAccessToken(ctx context.Context, h string) (store.AccessToken, error) {
	if s.down.Load() {
		return store.AccessToken{}, s.err()
	}
	return s.Store.GetAccessToken(ctx, h)
}

// AccessTokenCut is what a sealed access token's verification reads.
func (s outageStore) AccessTokenCut(ctx context.Context, k store.CutoffKeys, grantTime time.Time) (bool, error) {
	if s.down.Load() {
		return false, s.err()
	}
	return s.Store.AccessTokenCut(ctx, k, grantTime)
}

func (s outageStore) GetPATByHash(ctx context.Context, h string) (store.PersonalAccessToken, error) {
	if s.down.Load() {
		return store.PersonalAccessToken{}, s.err()
	}
	return s.Store.GetPATByHash(ctx, h)
}

func (s outageStore) GetAPIKeyByHash(ctx context.Context, h string) (store.APIKey, error) {
	if s.down.Load() {
		return store.APIKey{}, s.err()
	}
	return s.Store.GetAPIKeyByHash(ctx, h)
}

func testOpenAPIConformance(t *testing.T, s *tolktest.Server, down *atomic.Bool) {
	doc := loadOpenAPI(t)
	chk := newChecker(t, doc, s.URL)
	hc := chk.client()
	ctx := context.Background()

	type call struct {
		method, path, body string
		hdr                []string // name, value, …
		invalid            bool     // the document must refuse the request
		want               int
	}
	do := func(c call) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(c.method, s.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.body == "" {
			req.Body, req.ContentLength = http.NoBody, 0
		}
		for i := 0; i+1 < len(c.hdr); i += 2 {
			req.Header.Set(c.hdr[i], c.hdr[i+1])
		}
		if c.invalid {
			req = invalid(req)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, resp.StatusCode, c.want, b)
		}
		return resp, b
	}
	const jsonCT, formCT = "application/json", "application/x-www-form-urlencoded"
	field := func(b []byte, name string) string {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		v, _ := m[name].(string)
		return v
	}

	// Operations.
	for _, p := range []string{"/health/alive", "/healthz", "/health/ready", "/readyz", "/metrics"} {
		do(call{method: "GET", path: p, want: 200})
	}

	// TMS.
	admin, err := s.Store.GetUserByUserName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	_, b := do(call{method: "POST", path: "/api2/v1/auth/login", body: `{"userName":"admin","password":"` + tolktest.AdminPassword + `"}`, hdr: []string{"Content-Type", jsonCT}, want: 200})
	apiToken := field(b, "token")
	_, b = do(call{method: "POST", path: "/web/api2/v1/auth/login", body: `{"userName":"lena","password":"lena-password-1"}`, hdr: []string{"Content-Type", jsonCT}, want: 200})
	lenaToken := field(b, "token")
	do(call{method: "POST", path: "/web/api2/v1/auth/login", body: `{"userName":"admin","password":"wrong-password"}`, hdr: []string{"Content-Type", jsonCT}, want: 401})
	do(call{method: "POST", path: "/api2/v1/auth/login", body: `{"userName":"admin"}`, hdr: []string{"Content-Type", jsonCT}, invalid: true, want: 400})
	do(call{method: "POST", path: "/api2/v1/auth/login", body: `{"userName":`, hdr: []string{"Content-Type", jsonCT}, invalid: true, want: 400})
	do(call{method: "POST", path: "/api2/v1/auth/login", body: `userName=admin`, hdr: []string{"Content-Type", "text/plain"}, invalid: true, want: 415})
	for i := 0; ; i++ { // the per-user limit of failed logins
		req, _ := http.NewRequest("POST", s.URL+"/api2/v1/auth/login", strings.NewReader(`{"userName":"lena","password":"not-her-password"}`))
		req.Header.Set("Content-Type", jsonCT)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 {
			break
		}
		if i == 30 {
			t.Fatal("no 429 after 30 failed logins")
		}
	}
	do(call{method: "GET", path: "/api2/v1/auth/whoAmI", hdr: []string{"Authorization", "ApiToken " + apiToken}, want: 200})
	do(call{method: "GET", path: "/api2/v1/auth/whoAmI?token=" + apiToken, want: 200})
	do(call{method: "GET", path: "/api2/v1/auth/whoAmI", want: 401})
	do(call{method: "GET", path: "/api2/v1/auth/whoAmI", hdr: []string{"Authorization", "ApiToken " + strings.Repeat("x", 64)}, want: 401})
	do(call{method: "GET", path: "/api2/v1/auth/whoAmI", hdr: []string{"X-Proz-API-Key", "tolk_pk_not-a-key"}, want: 401})
	do(call{method: "POST", path: "/api2/v1/auth/loginOther", body: `{"userName":"lena"}`, hdr: []string{"Content-Type", jsonCT, "Authorization", "ApiToken " + apiToken}, want: 200})
	do(call{method: "POST", path: "/api2/v1/auth/loginOther", body: `{"userName":"nobody"}`, hdr: []string{"Content-Type", jsonCT, "Authorization", "ApiToken " + apiToken}, want: 404})
	do(call{method: "POST", path: "/api2/v1/auth/loginOther", body: `{"userName":"admin"}`, hdr: []string{"Content-Type", jsonCT, "Authorization", "ApiToken " + lenaToken}, want: 403})
	do(call{method: "POST", path: "/api2/v1/auth/loginOther", body: `{}`, hdr: []string{"Content-Type", jsonCT, "Authorization", "ApiToken " + apiToken}, invalid: true, want: 400})
	do(call{method: "POST", path: "/api2/v1/auth/logout", hdr: []string{"Authorization", "ApiToken " + lenaToken}, want: 204})
	do(call{method: "POST", path: "/api2/v1/auth/logout", hdr: []string{"Authorization", "ApiToken " + lenaToken}, want: 401})

	// Two-factor authentication: each dialect asks for the code its way.
	otto := s.CreateUser(t, "otto", store.RoleLinguist, "otto-password-1")
	enrol, err := s.Tolk.Identity.TwoFactor.BeginEnrolment(ctx, otto)
	if err != nil {
		t.Fatal(err)
	}
	totpCode := func() string {
		t.Helper()
		s.Clock.Advance(30 * time.Second) // a fresh step: a code is accepted once
		c, err := totp.GenerateCodeCustom(enrol.Secret, s.Clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := s.Tolk.Identity.TwoFactor.Enable(ctx, otto, totpCode()); err != nil {
		t.Fatal(err)
	}
	do(call{method: "POST", path: "/api2/v1/auth/login", body: `{"userName":"otto","password":"otto-password-1"}`, hdr: []string{"Content-Type", jsonCT}, want: 401})
	do(call{method: "POST", path: "/api2/v1/auth/login", body: `{"userName":"otto","password":"otto-password-1","code":"` + totpCode() + `"}`, hdr: []string{"Content-Type", jsonCT}, want: 200})
	ottoBasic := "Basic " + b64("otto:otto-password-1")
	resp, _ := do(call{method: "GET", path: "/v2/authorizations", hdr: []string{"Authorization", ottoBasic}, want: 401})
	if resp.Header.Get("X-PhraseApp-OTP") != "required" {
		t.Errorf("X-PhraseApp-OTP: %q, want required", resp.Header.Get("X-PhraseApp-OTP"))
	}
	do(call{method: "POST", path: "/v2/authorizations", body: `{"note":"otto"}`, hdr: []string{"Content-Type", jsonCT, "Authorization", ottoBasic, "X-PhraseApp-OTP", totpCode()}, want: 201})

	// Strings Authorizations API.
	adminBasic := "Basic " + b64("admin:"+tolktest.AdminPassword)
	resp, b = do(call{method: "POST", path: "/v2/authorizations", body: `{"note":"ci","scopes":["read"],"expires_at":null}`, hdr: []string{"Content-Type", jsonCT, "Authorization", adminBasic}, want: 201})
	pat, patID := field(b, "token"), field(b, "id")
	if resp.Header.Get("Location") == "" {
		t.Error("201 without Location")
	}
	do(call{method: "POST", path: "/v2/authorizations", body: `{"scopes":["read"]}`, hdr: []string{"Content-Type", jsonCT, "Authorization", adminBasic}, invalid: true, want: 422})
	do(call{method: "POST", path: "/v2/authorizations", body: `{"note":"ci"}`, hdr: []string{"Content-Type", "text/plain", "Authorization", adminBasic}, invalid: true, want: 415})
	do(call{method: "POST", path: "/v2/authorizations", body: `{"note":"ci"}`, hdr: []string{"Content-Type", jsonCT, "Authorization", "Basic " + b64("admin:wrong")}, want: 401})
	do(call{method: "POST", path: "/v2/authorizations", body: `{"note":"ci"}`, hdr: []string{"Content-Type", jsonCT}, want: 401})
	do(call{method: "POST", path: "/v2/authorizations", body: `{"note":"ci"}`, hdr: []string{"Content-Type", jsonCT, "Authorization", "token " + pat}, invalid: true, want: 401})
	do(call{method: "GET", path: "/v2/authorizations?page=1&per_page=10", hdr: []string{"Authorization", adminBasic}, want: 200})
	do(call{method: "GET", path: "/v2/authorizations?page=0", hdr: []string{"Authorization", adminBasic}, invalid: true, want: 400})
	do(call{method: "GET", path: "/v2/authorizations/" + patID, hdr: []string{"Authorization", adminBasic}, want: 200})
	do(call{method: "GET", path: "/v2/authorizations/" + strings.Repeat("0", 32), hdr: []string{"Authorization", adminBasic}, want: 404})
	do(call{method: "PATCH", path: "/v2/authorizations/" + patID, body: `{"note":"renamed","expires_at":"0001-01-01T00:00:00Z"}`, hdr: []string{"Content-Type", jsonCT, "Authorization", adminBasic}, want: 200})
	do(call{method: "PATCH", path: "/v2/authorizations/" + patID, body: `{"expires_at":5}`, hdr: []string{"Content-Type", jsonCT, "Authorization", adminBasic}, invalid: true, want: 400})
	do(call{method: "PATCH", path: "/v2/authorizations/" + patID, body: `{"note":""}`, hdr: []string{"Content-Type", jsonCT, "Authorization", adminBasic}, want: 422})

	// Resources, with each dialect's credential.
	_, apiKey, err := s.Tolk.APIKeys.Create(ctx, admin, "openapi")
	if err != nil {
		t.Fatal(err)
	}
	do(call{method: "GET", path: "/v2/user", hdr: []string{"Authorization", "token " + pat}, want: 200})
	do(call{method: "GET", path: "/v2/user", hdr: []string{"Authorization", "Bearer " + pat}, want: 200})
	do(call{method: "GET", path: "/v2/user", hdr: []string{"Authorization", "Basic " + b64(pat+":")}, want: 200})
	do(call{method: "GET", path: "/user", hdr: []string{"X-Proz-API-Key", apiKey}, want: 200})
	do(call{method: "GET", path: "/user", hdr: []string{"X-Proz-API-Key", "tolk_pk_not-a-key"}, want: 401})
	do(call{method: "GET", path: "/user", want: 401})
	do(call{method: "GET", path: "/api2/v1/auth/whoAmI", hdr: []string{"X-Proz-API-Key", apiKey}, want: 200})
	do(call{method: "GET", path: "/api2/v1/auth/whoAmI", hdr: []string{"Authorization", "token " + pat}, want: 401}) // a PAT is for strings
	do(call{method: "POST", path: "/userinfo", hdr: []string{"Authorization", "ApiToken " + apiToken}, want: 200})

	// OAuth 2.0: client credentials, the code flow through the real pages,
	// refresh, introspection, revocation, discovery, and token exchange.
	const redirect = "http://127.0.0.1:9/cb"
	cc, ccSecret, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: admin.OrgUID, Name: "openapi",
		RedirectURIs: []string{redirect}, Scopes: []string{"openid", "profile", "email", "offline_access", "read"},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	ccBasic := "Basic " + b64(url.QueryEscape(cc.ID)+":"+url.QueryEscape(ccSecret))
	_, b = do(call{method: "POST", path: "/oauth/token", body: "grant_type=client_credentials&scope=read", hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, want: 200})
	ccToken := field(b, "access_token")
	do(call{method: "POST", path: "/web/oauth/token", body: url.Values{"grant_type": {"client_credentials"}, "client_id": {cc.ID}, "client_secret": {ccSecret}}.Encode(), hdr: []string{"Content-Type", formCT}, want: 200})
	do(call{method: "POST", path: "/oauth/token", body: "grant_type=client_credentials", hdr: []string{"Content-Type", formCT, "Authorization", "Basic " + b64(url.QueryEscape(cc.ID)+":wrong")}, want: 401})
	do(call{method: "POST", path: "/oauth/token", body: "grant_type=password&username=admin", hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, invalid: true, want: 400})
	do(call{method: "POST", path: "/oauth/token", body: "scope=read", hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, invalid: true, want: 400})
	do(call{method: "POST", path: "/oauth/token", body: "{}", hdr: []string{"Content-Type", jsonCT, "Authorization", ccBasic}, invalid: true, want: 400})
	do(call{method: "GET", path: "/userinfo", hdr: []string{"Authorization", "Bearer " + ccToken}, want: 401}) // names no user

	br := oauthflow.New(t, s.URL)
	br.Client.Transport = chk
	verifier := strings.Repeat("v", 43)
	authURL := "/oauth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {cc.ID}, "redirect_uri": {redirect},
		"scope": {"openid profile email offline_access read"}, "state": {"st"}, "nonce": {"n"},
		"code_challenge": {oauth.S256(verifier)}, "code_challenge_method": {"S256"}}.Encode()
	page := br.Authorize(t, authURL, "admin", tolktest.AdminPassword, "allow")
	code := ""
	if page.Location != nil {
		code = page.Location.Query().Get("code")
	}
	if code == "" {
		t.Fatalf("no code: %d %s %s", page.Status, page.Location, page.Body)
	}
	codeForm := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}.Encode()
	_, b = do(call{method: "POST", path: "/oauth/token", body: codeForm, hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, want: 200})
	userToken, refresh := field(b, "access_token"), field(b, "refresh_token")
	do(call{method: "POST", path: "/oauth/token", body: "grant_type=refresh_token&refresh_token=" + url.QueryEscape(refresh), hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, want: 200})
	do(call{method: "GET", path: "/userinfo", hdr: []string{"Authorization", "Bearer " + userToken}, want: 200})
	_, b = do(call{method: "POST", path: "/oauth/token", body: "grant_type=client_credentials&scope=read", hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, want: 200})
	readOnly := field(b, "access_token")
	do(call{method: "POST", path: "/oauth/introspect", body: "token=" + url.QueryEscape(userToken), hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, want: 200})
	do(call{method: "POST", path: "/oauth/introspect", body: "token=tolk_at_unknown", hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, want: 200})
	do(call{method: "POST", path: "/oauth/introspect", body: "token_type_hint=access_token", hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, invalid: true, want: 400})
	do(call{method: "POST", path: "/oauth/introspect", body: "token=x", hdr: []string{"Content-Type", formCT, "Authorization", "Basic " + b64(url.QueryEscape(cc.ID)+":wrong")}, want: 401})
	do(call{method: "POST", path: "/oauth/revoke", body: "token=" + url.QueryEscape(readOnly), hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, want: 200})
	do(call{method: "POST", path: "/oauth/revoke", body: "", hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, invalid: true, want: 400})
	do(call{method: "POST", path: "/oauth/token", body: codeForm, hdr: []string{"Content-Type", formCT, "Authorization", ccBasic}, want: 400}) // replayed: also revokes what the code gave
	do(call{method: "GET", path: "/.well-known/openid-configuration", want: 200})
	do(call{method: "GET", path: "/.well-known/oauth-authorization-server", want: 200})
	do(call{method: "GET", path: "/.well-known/jwks.json", want: 200})

	pt, err := s.Tolk.Platform.Create(ctx, admin, "openapi", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, b = do(call{method: "POST", path: "/idm/oauth/token", body: url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {pt.Secret}}.Encode(), hdr: []string{"Content-Type", formCT}, want: 200})
	platformJWT := field(b, "access_token")
	do(call{method: "POST", path: "/idm/oauth/token", body: url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {"tolk_pt_not-a-token"}}.Encode(), hdr: []string{"Content-Type", formCT}, want: 400})

	_, b = do(call{method: "POST", path: "/oauth/token", body: url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {pt.Secret}, "scope": {"read"}}.Encode(), hdr: []string{"Content-Type", formCT}, want: 200})
	do(call{method: "GET", path: "/userinfo", hdr: []string{"Authorization", "Bearer " + field(b, "access_token")}, want: 403}) // no openid
	jc, jcSecret, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: admin.OrgUID, Name: "openapi-jwt",
		GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"read"}, JWTAccessTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	_, b = do(call{method: "POST", path: "/oauth/token", body: "grant_type=client_credentials&scope=read", hdr: []string{"Content-Type", formCT, "Authorization", "Basic " + b64(url.QueryEscape(jc.ID)+":"+url.QueryEscape(jcSecret))}, want: 200})
	ccJWT := field(b, "access_token")
	if strings.Count(ccJWT, ".") != 2 {
		t.Errorf("JWT access token expected, got %q", ccJWT)
	}
	do(call{method: "GET", path: "/auth/verify?scope=read", hdr: []string{"Authorization", "Bearer " + ccJWT}, want: 200})
	do(call{method: "GET", path: "/api2/v1/auth/whoAmI", hdr: []string{"Authorization", "Bearer " + ccJWT}, want: 401}) // names no user
	do(call{method: "GET", path: "/api2/v1/auth/whoAmI", hdr: []string{"Authorization", "Bearer " + platformJWT}, want: 200})

	// Forward auth.
	do(call{method: "GET", path: "/auth/verify", hdr: []string{"Authorization", "ApiToken " + apiToken}, want: 200})
	do(call{method: "GET", path: "/auth/verify?audience=tms", hdr: []string{"Authorization", "Bearer " + platformJWT}, want: 200})
	do(call{method: "GET", path: "/auth/verify", hdr: []string{"X-Proz-API-Key", apiKey}, want: 200})
	do(call{method: "GET", path: "/auth/verify", hdr: []string{"Authorization", "token " + pat}, want: 200})
	do(call{method: "GET", path: "/auth/verify", hdr: []string{"X-Forwarded-Uri", "/projects?token=" + apiToken}, want: 200})
	do(call{method: "GET", path: "/auth/verify?audience=tms", hdr: []string{"Authorization", "token " + pat}, want: 401})
	do(call{method: "GET", path: "/auth/verify?scope=write", hdr: []string{"Authorization", "Bearer " + ccToken}, want: 403})
	do(call{method: "GET", path: "/auth/verify", want: 401})
	do(call{method: "GET", path: "/auth/verify", hdr: []string{"X-Proz-API-Key", "tolk_pk_not-a-key"}, want: 401})

	// The Strings token goes last: deleting it ends it.
	do(call{method: "DELETE", path: "/v2/authorizations/" + patID, hdr: []string{"Authorization", adminBasic}, want: 204})
	do(call{method: "DELETE", path: "/v2/authorizations/" + patID, hdr: []string{"Authorization", adminBasic}, want: 404})
	do(call{method: "GET", path: "/v2/user", hdr: []string{"Authorization", "token " + pat}, want: 401})

	// Web UI: a few pages, signed out and in (the browser signed in above).
	do(call{method: "GET", path: "/", want: 303})
	do(call{method: "GET", path: "/login", want: 200})
	do(call{method: "GET", path: "/static/style.css", want: 200})
	do(call{method: "GET", path: "/oauth/authorize", want: 400})
	for _, p := range []string{"/", "/settings/oauth-apps", "/settings/access-tokens", "/settings/sessions", "/settings/users"} {
		if pg := br.Get(t, p); pg.Status != 200 {
			t.Errorf("GET %s signed in: %d", p, pg.Status)
		}
	}

	// The database is unreachable: 503 with Retry-After in each dialect's
	// shape, and 401 (with Retry-After) from /auth/verify.
	_, b = do(call{method: "POST", path: "/api2/v1/auth/login", body: `{"userName":"admin","password":"` + tolktest.AdminPassword + `"}`, hdr: []string{"Content-Type", jsonCT}, want: 200})
	fresh := field(b, "token") // not in /auth/verify's cache
	_, b = do(call{method: "POST", path: "/v2/authorizations", body: `{"note":"outage"}`, hdr: []string{"Content-Type", jsonCT, "Authorization", adminBasic}, want: 201})
	outagePAT := field(b, "token")
	// An app not looked up yet: registrations are cached for
	// key_cache_interval.
	oc, ocSecret, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: admin.OrgUID, Name: "openapi-outage",
		GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	ocBasic := "Basic " + b64(url.QueryEscape(oc.ID)+":"+url.QueryEscape(ocSecret))
	down.Store(true)
	for _, c := range []call{
		{method: "POST", path: "/oauth/token", body: "grant_type=client_credentials", hdr: []string{"Content-Type", formCT, "Authorization", ocBasic}, want: 503},
		{method: "POST", path: "/oauth/introspect", body: "token=x", hdr: []string{"Content-Type", formCT, "Authorization", ocBasic}, want: 503},
		{method: "POST", path: "/api2/v1/auth/login", body: `{"userName":"admin","password":"x"}`, hdr: []string{"Content-Type", jsonCT}, want: 503},
		{method: "GET", path: "/api2/v1/auth/whoAmI", hdr: []string{"Authorization", "ApiToken " + fresh}, want: 503},
		{method: "GET", path: "/v2/authorizations", hdr: []string{"Authorization", adminBasic}, want: 503},
		{method: "GET", path: "/v2/user", hdr: []string{"Authorization", "token " + outagePAT}, want: 503},
		{method: "GET", path: "/user", hdr: []string{"X-Proz-API-Key", apiKey}, want: 503},
		{method: "GET", path: "/userinfo", hdr: []string{"Authorization", "Bearer " + ccToken}, want: 503},
		{method: "GET", path: "/auth/verify", hdr: []string{"Authorization", "ApiToken " + fresh}, want: 401},
	} {
		if resp, _ := do(c); resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: no Retry-After", c.method, c.path)
		}
	}
	down.Store(false)

	// Every operation outside the web UI was exercised.
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if slices.Contains(op.Tags, "web") {
				continue
			}
			if _, ok := chk.seen[op.OperationID]; !ok {
				missing = append(missing, method+" "+path)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations no request exercised: %v", missing)
	}
}

// TestOpenAPICheckerCatches: the checker reports what the document does
// not describe. Against a copy of the document that lacks loginOther's
// 404, no longer names TMS's AuthUnauthorized code, wants 9-character
// token_last_eight values and no longer requires a Strings note, real
// answers and a deliberate client error are reported, and nothing is
// reported for the document as it is.
func TestOpenAPICheckerCatches(t *testing.T) {
	s := tolktest.New(t)
	drive := func(doc *openapi3.T) []string {
		chk := newChecker(t, doc, s.URL)
		var found []string
		chk.errorf = func(format string, args ...any) { found = append(found, fmt.Sprintf(format, args...)) }
		hc := chk.client()
		send := func(method, path, body string, invalidReq bool, hdr ...string) {
			req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			if invalidReq {
				req = invalid(req)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		basic := "Basic " + b64("admin:"+tolktest.AdminPassword)
		send("POST", "/v2/authorizations", `{"note":"x"}`, false, "Content-Type", "application/json", "Authorization", basic)
		send("POST", "/v2/authorizations", `{"scopes":[]}`, true, "Content-Type", "application/json", "Authorization", basic)
		send("GET", "/api2/v1/auth/whoAmI", "", false)
		req, _ := http.NewRequest("POST", s.URL+"/api2/v1/auth/login", strings.NewReader(`{"userName":"admin","password":"`+tolktest.AdminPassword+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var login struct{ Token string }
		json.NewDecoder(resp.Body).Decode(&login)
		resp.Body.Close()
		send("POST", "/api2/v1/auth/loginOther", `{"userName":"nobody"}`, false, "Content-Type", "application/json", "Authorization", "ApiToken "+login.Token)
		return found
	}

	if found := drive(loadOpenAPI(t)); len(found) > 0 {
		t.Fatalf("the document as it is: %q", found)
	}
	doc := loadOpenAPI(t)
	doc.Paths.Value("/api2/v1/auth/loginOther").Post.Responses.Delete("404")
	code := doc.Components.Schemas["TMSError"].Value.Properties["errorCode"].Value
	code.Enum = slices.DeleteFunc(slices.Clone(code.Enum), func(v any) bool { return v == "AuthUnauthorized" })
	doc.Components.Schemas["StringsAuthorizationWithToken"].Value.Properties["token_last_eight"].Value.Pattern = "^[0-9a-f]{9}$"
	doc.Components.Schemas["StringsAuthorizationCreate"].Value.Required = nil
	found := strings.Join(drive(doc), "\n")
	for _, want := range []string{
		"POST /api2/v1/auth/loginOther → 404: answer does not match docs/openapi.yaml: status is not supported",
		"GET /api2/v1/auth/whoAmI → 401: answer does not match",
		"POST /v2/authorizations → 201: answer does not match",
		"POST /v2/authorizations: the document accepts this request",
	} {
		if !strings.Contains(found, want) {
			t.Errorf("not reported: %q\nreported:\n%s", want, found)
		}
	}
}
