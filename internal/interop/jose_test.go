package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// joseModules is the directory whose node_modules holds the pinned jose,
// oauth4webapi and openid-client: $TOLK_JOSE_INTEROP, which .ci/run sets
// after installing them. Without it (or without node) the test skips,
// except under CI=true, where it fails.
func joseModules(t *testing.T) (node, dir string) {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatal(why + " (.ci/run installs them)")
		}
		t.Skip(why + ": npm install --prefix DIR jose@6.2.17 oauth4webapi@3.8.8 openid-client@6.8.9 and set TOLK_JOSE_INTEROP=DIR")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	dir = os.Getenv("TOLK_JOSE_INTEROP")
	if dir == "" {
		missing("TOLK_JOSE_INTEROP is unset")
	}
	for _, p := range []string{"jose", "oauth4webapi", "openid-client"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			missing("TOLK_JOSE_INTEROP has no " + p + ": " + err.Error())
		}
	}
	return node, dir
}

type joseToken struct {
	What  string `json:"what"`
	Token string `json:"token"`
	Alg   string `json:"alg"`
	Aud   string `json:"aud"`
}

type joseServer struct {
	Issuer       string      `json:"issuer"`
	Alg          string      `json:"alg"` // exchange_alg
	JWTAccessAlg string      `json:"jwt_access_alg"`
	Aud          string      `json:"aud"`
	Tokens       []joseToken `json:"tokens"`
	SubjectToken string      `json:"subject_token"`
	ClientID     string      `json:"client_id"`
	ClientSecret string      `json:"client_secret"`
}

// TestJOSEInterop: the JWTs tolk signs with EdDSA (Ed25519, opted into by
// exchange_alg and jwt_access_alg) and with ES256 (the exchange's default)
// are accepted by independent verifiers against tolk's own discovery
// document and JWKS: go-oidc here, and jose, oauth4webapi and
// openid-client in Node (testdata/jose_interop.mjs), which also obtain
// tokens themselves through the token exchange and client_credentials.
func TestJOSEInterop(t *testing.T) {
	node, modules := joseModules(t)
	ctx := context.Background()
	var servers []joseServer
	for _, alg := range []string{"EdDSA", "ES256"} {
		s := tolktest.New(t, tolktest.Options{ClockStart: time.Now().UTC(), Config: func(c *config.Config) {
			c.ExchangeAlg, c.JWTAccessAlg = alg, alg
		}})
		aud := s.Tolk.Config.Audiences[0]
		u := s.CreateUser(t, "jose", store.RoleLinguist, "pw-jose-long-enough")
		pt, err := s.Tolk.Platform.Create(ctx, u, "interop", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		org, _ := s.Store.DefaultOrganization(ctx)
		c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "jose interop", JWTAccessTokens: true,
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		exchanged := tokenPost(t, s, "", "", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {pt.Secret}})
		access := tokenPost(t, s, c.ID, sec, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
		tokens := []joseToken{{"exchanged Platform JWT", exchanged, alg, aud}, {"RFC 9068 access token", access, alg, aud}}

		// go-oidc, from the discovery document on.
		p, err := oidc.NewProvider(ctx, s.URL)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range tokens {
			if h := jwtHeader(t, tok.Token); h["alg"] != alg || h["typ"] != "at+jwt" {
				t.Errorf("%s %s: header %v", alg, tok.What, h)
			}
			v := p.VerifierContext(ctx, &oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{alg}})
			if _, err := v.Verify(ctx, tok.Token); err != nil {
				t.Errorf("go-oidc refuses the %s %s: %v", alg, tok.What, err)
			}
			// Pinned to the other algorithm, go-oidc must refuse it.
			other := map[string]string{"EdDSA": "ES256", "ES256": "EdDSA"}[alg]
			if _, err := p.VerifierContext(ctx, &oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{other}}).Verify(ctx, tok.Token); err == nil {
				t.Errorf("go-oidc pinned to %s accepted the %s %s", other, alg, tok.What)
			}
		}
		servers = append(servers, joseServer{Issuer: s.URL, Alg: alg, JWTAccessAlg: alg, Aud: aud, Tokens: tokens,
			SubjectToken: pt.Secret, ClientID: c.ID, ClientSecret: sec})
	}

	// The script imports the packages by name: run it from a directory
	// whose node_modules is the installed one.
	work := t.TempDir()
	script, err := os.ReadFile(filepath.Join("testdata", "jose_interop.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "jose_interop.mjs"), script, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(modules, "node_modules"), filepath.Join(work, "node_modules")); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(map[string]any{"servers": servers})
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, node, filepath.Join(work, "jose_interop.mjs"), string(in))
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	t.Logf("node %s:\n%s", filepath.Base(modules), out)
	if err != nil {
		t.Fatalf("node jose_interop.mjs: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "ok ") {
			n++
		}
	}
	// 2 servers × (JWK import, 2 tokens × 2 libraries, forged key, 2
	// grants through openid-client, each checked by 2 libraries).
	if n != 2*(1+2*2+1+2+2*2) {
		t.Fatalf("only %d checks ran", n)
	}
}

// tokenPost asks the token endpoint (with Basic client authentication when
// id is set) and returns the access_token.
func tokenPost(t *testing.T, s *tolktest.Server, id, secret string, form url.Values) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, body := s.Do(t, req)
	var m struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &m) != nil || m.AccessToken == "" {
		t.Fatalf("%s: %d %s", form.Get("grant_type"), resp.StatusCode, body)
	}
	return m.AccessToken
}

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	var m map[string]any
	if err != nil || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("JWT header of %q", tok)
	}
	return m
}
