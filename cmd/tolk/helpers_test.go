package main_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
)

// Helpers for the tests with real tolk processes (crash safety, several
// instances): they use only tolk's public surface — the CLI, HTTP, and the
// web forms.

const (
	adminPassword = "cluster-admin-password"
	redirectURI   = "http://127.0.0.1:1/cb"
)

// tolkCLI runs a tolk command against db and returns its standard output.
func tolkCLI(t *testing.T, db string, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append(args, "--db", db)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tolk %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

type testClient struct{ id, secret string }

// newClient registers a confidential app for every grant the tests use,
// under a name of its own (an organization's apps have distinct names).
func newClient(t *testing.T, db string, env []string) testClient {
	t.Helper()
	out := tolkCLI(t, db, env, "client", "create", "--name", "cluster test "+rand.Text()[:8], "--redirect-uri", redirectURI,
		"--grant", "authorization_code", "--grant", "refresh_token", "--grant", "client_credentials", "--always-refresh")
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.ID == "" || c.Secret == "" {
		t.Fatalf("client create printed %s (%v)", out, err)
	}
	return testClient{c.ID, c.Secret}
}

// httpc is the tests' plain client; every call is bounded.
var httpc = &http.Client{Timeout: 20 * time.Second}

type reply struct {
	Status int
	Body   map[string]any
	Raw    string
}

func (r reply) str(k string) string { s, _ := r.Body[k].(string); return s }

func send(req *http.Request) (reply, error) {
	resp, err := httpc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{Status: resp.StatusCode, Raw: string(b)}
	_ = json.Unmarshal(b, &r.Body)
	return r, nil
}

// tokenRequest builds a client-authenticated form POST.
func tokenRequest(base, path string, form url.Values, c testClient) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.id != "" {
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	}
	return req
}

func mustSend(t *testing.T, req *http.Request) reply {
	t.Helper()
	r, err := send(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return r
}

// active reports whether introspection at base says tok is active.
func active(t *testing.T, base, tok string, c testClient) bool {
	t.Helper()
	r := mustSend(t, tokenRequest(base, "/oauth/introspect", url.Values{"token": {tok}}, c))
	if r.Status != http.StatusOK {
		t.Fatalf("introspect: %d %s", r.Status, r.Raw)
	}
	a, _ := r.Body["active"].(bool)
	return a
}

// get sends a GET with one header.
func get(t *testing.T, u, header, value string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if header != "" {
		req.Header.Set(header, value)
	}
	return mustSend(t, req)
}

// tmsLogin returns an ApiToken.
func tmsLogin(t *testing.T, base string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api2/v1/auth/login",
		strings.NewReader(`{"userName":"admin","password":"`+adminPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	r := mustSend(t, req)
	if r.Status != http.StatusOK || r.str("token") == "" {
		t.Fatalf("TMS login: %d %s", r.Status, r.Raw)
	}
	return r.str("token")
}

// noOrigin drops the Origin header: the instances share one public issuer
// (the load balancer's), which is not the loopback address the tests
// reach each instance at; the CSRF token is still checked.
type noOrigin struct{ rt http.RoundTripper }

func (n noOrigin) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Del("Origin")
	return n.rt.RoundTrip(r)
}

// browser is a cookie-jar browser for one instance; at switches the
// instance it talks to while keeping the cookies (as a load balancer
// without sticky sessions would).
func browser(t *testing.T, base string) *oauthflow.Browser {
	b := oauthflow.New(t, base)
	b.Client.Transport = noOrigin{http.DefaultTransport}
	b.Client.Timeout = 20 * time.Second
	return b
}

// at returns a browser sharing b's cookies but sending to base.
func at(b *oauthflow.Browser, base string) *oauthflow.Browser {
	return &oauthflow.Browser{Client: b.Client, Base: base}
}

// authCode runs the authorization code flow in b (signing in as admin and
// allowing if asked) and returns a code and its PKCE verifier.
func authCode(t *testing.T, b *oauthflow.Browser, c testClient, scope string) (string, string) {
	t.Helper()
	v := base64.RawURLEncoding.EncodeToString([]byte(rand.Text() + rand.Text()))
	sum := sha256.Sum256([]byte(v))
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.id}, "redirect_uri": {redirectURI}, "scope": {scope},
		"state": {"s-" + rand.Text()}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	p := b.Authorize(t, "/oauth/authorize?"+q.Encode(), "admin", adminPassword, "allow")
	if p.Location == nil {
		t.Fatalf("authorization ended at %d: %.300s", p.Status, p.Body)
	}
	code := oauthflow.Params(p.Location).Get("code")
	if code == "" {
		t.Fatalf("no code in %s", p.Location)
	}
	return code, v
}

func codeForm(code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
}
