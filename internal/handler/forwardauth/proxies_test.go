package forwardauth_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
	"github.com/tolk-project/tolk/verify"
)

// The proxy configurations are read from docs/forward-auth.md, so that
// what the tests run is what the documentation says. The test replaces
// only addresses, each of which must be found.
const docPath = "../../../docs/forward-auth.md"

type docBlock struct{ section, lang, text string }

// docBlocks returns the fenced code blocks of the document, each with the
// "## " heading it stands under.
func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks  []docBlock
		section string
		cur     *docBlock
	)
	for line := range strings.Lines(string(raw)) {
		switch {
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line
		case strings.HasPrefix(line, "```"):
			cur = &docBlock{section: section, lang: strings.TrimSpace(strings.TrimPrefix(line, "```"))}
		case strings.HasPrefix(line, "## "):
			section = strings.TrimSpace(strings.TrimPrefix(line, "## "))
		}
	}
	return blocks
}

// docConfig returns the n-th block of language lang under the section
// whose heading starts with prefix.
func docConfig(t *testing.T, prefix, lang string, n int) string {
	t.Helper()
	for _, b := range docBlocks(t) {
		if strings.HasPrefix(b.section, prefix) && b.lang == lang {
			if n == 0 {
				return b.text
			}
			n--
		}
	}
	t.Fatalf("%s: no %s block %d under a heading %q", docPath, lang, n, prefix)
	return ""
}

// replaceAll replaces each old string by its new one in s, failing the
// test when one is missing (the documentation changed under the test).
func replaceAll(t *testing.T, s string, oldnew ...string) string {
	t.Helper()
	for i := 0; i < len(oldnew); i += 2 {
		if !strings.Contains(s, oldnew[i]) {
			t.Fatalf("%s: the configuration no longer contains %q", docPath, oldnew[i])
		}
		s = strings.ReplaceAll(s, oldnew[i], oldnew[i+1])
	}
	return s
}

// TestDocumentedProxiesClearEveryIdentityHeader: every documented proxy
// configuration overwrites or removes every header verify.IdentityHeaders
// lists (the headers tolk can answer with), also those a given answer
// lacks. nginx and Caddy are also run by TestDocumentedProxies; Traefik and
// Envoy, documented as untested, are checked here only.
func TestDocumentedProxiesClearEveryIdentityHeader(t *testing.T) {
	nginx := docConfig(t, "nginx", "nginx", 1) // tolk_identity.conf
	caddy := docConfig(t, "Caddy", "caddyfile", 0)
	traefik := docConfig(t, "Traefik", "yaml", 0)
	envoy := docConfig(t, "Envoy", "yaml", 0)
	find := func(text, pattern string) []string {
		return regexp.MustCompile(pattern).FindStringSubmatch(text)
	}
	authAt := regexp.MustCompile(`(?m)^\s*reverse_proxy\s`).FindStringIndex(caddy) // the request to tolk
	if authAt == nil {
		t.Fatal("caddy: no reverse_proxy")
	}
	for _, h := range verify.IdentityHeaders() {
		q, lower := regexp.QuoteMeta(h), strings.ToLower(h)
		t.Run(h, func(t *testing.T) {
			// nginx: proxy_set_header from the variable set from tolk's
			// answer of the same name (empty: the header is left out).
			if m := find(nginx, `(?mi)^\s*proxy_set_header\s+`+q+`\s+\$(\w+);`); m == nil {
				t.Errorf("nginx: no proxy_set_header %s", h)
			} else if find(nginx, `(?m)^\s*auth_request_set\s+\$`+m[1]+`\s+\$upstream_http_`+strings.ReplaceAll(lower, "-", "_")+`;`) == nil {
				t.Errorf("nginx: $%s is not set from tolk's %s", m[1], h)
			}
			// Caddy: removed before the request to tolk, then set from
			// tolk's answer only if the answer has it.
			if loc := regexp.MustCompile(`(?mi)^\s*request_header\s+-` + q + `\s*$`).FindStringIndex(caddy); loc == nil || loc[0] > authAt[0] {
				t.Errorf("caddy: no request_header -%s before the request to tolk", h)
			}
			if m := find(caddy, `(?m)^\s*request_header\s+@(\w+)\s+`+q+`\s+\{rp\.header\.`+q+`\}\s*$`); m == nil {
				t.Errorf("caddy: %s is not set from tolk's answer", h)
			} else if find(caddy, `(?m)^\s*@`+m[1]+"\\s+expression\\s+`\\{rp\\.header\\."+q+"\\} != null`\\s*$") == nil {
				t.Errorf("caddy: @%s does not test that tolk's answer has %s", m[1], h)
			}
			// Traefik deletes each authResponseHeaders entry from the
			// request, then copies it from the answer if there.
			if find(traefik, `(?m)^\s*-\s*`+q+`\s*$`) == nil {
				t.Errorf("traefik: %s not in authResponseHeaders", h)
			}
			// Envoy: removed by header_mutation, copied by ext_authz.
			if find(envoy, `(?m)^\s*-\s*remove:\s*`+regexp.QuoteMeta(lower)+`\s*$`) == nil {
				t.Errorf("envoy: no header_mutation remove of %s", lower)
			}
			copied := false
			for _, m := range regexp.MustCompile(`(?m)^\s*-\s*prefix:\s*(\S+)\s*$`).FindAllStringSubmatch(envoy, -1) {
				copied = copied || strings.HasPrefix(lower, m[1])
			}
			if !copied {
				t.Errorf("envoy: %s not in allowed_upstream_headers", lower)
			}
		})
	}
}

func findBinary(t *testing.T, pkg string, names ...string) string {
	t.Helper()
	for _, p := range names {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (apt-get install %s)", names[0], pkg)
	}
	t.Skipf("%s is not installed (apt-get install %s); skipping its forward-auth test", names[0], pkg)
	return ""
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProxy runs cmd until the test ends and returns the base URL once
// listen accepts connections.
func startProxy(t *testing.T, cmd *exec.Cmd, listen, logFile string) string {
	t.Helper()
	out := &tolktest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + listen
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited: %v\n%s\n%s", cmd.Path, err, out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %s", cmd.Path, listen, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNginx runs the documented nginx configuration.
func startNginx(t *testing.T, tolkAddr, upstreamAddr string) string {
	bin := findBinary(t, "nginx-light", "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	listen := freePort(t)
	server := replaceAll(t, docConfig(t, "nginx", "nginx", 0),
		"127.0.0.1:8080", tolkAddr, "127.0.0.1:9000", upstreamAddr,
		"listen 443 ssl;", "listen "+listen+";",
		"include tolk_identity.conf;", "include "+filepath.Join(dir, "tolk_identity.conf")+";")
	conf := strings.NewReplacer("{{DIR}}", dir, "{{SERVER}}", server).Replace(`
daemon off;
master_process off;
worker_processes 1;
pid {{DIR}}/nginx.pid;
error_log {{DIR}}/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path {{DIR}}/body;
    proxy_temp_path {{DIR}}/proxy;
    fastcgi_temp_path {{DIR}}/fastcgi;
    uwsgi_temp_path {{DIR}}/uwsgi;
    scgi_temp_path {{DIR}}/scgi;
{{SERVER}}
}
`)
	for name, content := range map[string]string{"nginx.conf": conf, "tolk_identity.conf": docConfig(t, "nginx", "nginx", 1)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
	return startProxy(t, cmd, listen, filepath.Join(dir, "error.log"))
}

// startCaddy runs the documented Caddyfile.
func startCaddy(t *testing.T, tolkAddr, upstreamAddr string) string {
	bin := findBinary(t, "caddy", "caddy")
	dir := t.TempDir()
	listen := freePort(t)
	site := replaceAll(t, docConfig(t, "Caddy", "caddyfile", 0),
		"127.0.0.1:8080", tolkAddr, "127.0.0.1:9000", upstreamAddr, "api.example.com", "http://"+listen)
	// No admin endpoint, no certificates, all state in the test's directory.
	conf := "{\n\tadmin off\n\tauto_https off\n\tstorage file_system " + filepath.Join(dir, "data") + "\n}\n" + site
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	return startProxy(t, cmd, listen, filepath.Join(dir, "caddy.log"))
}

// spoofed is what a client sends for every identity header: values that
// would widen its access if they reached the API.
func spoofed(h string) string {
	switch h {
	case verify.HeaderScopes:
		return "read write team.manage"
	case verify.HeaderAudiences:
		return "tms strings platform"
	case verify.HeaderExpires:
		return "9999999999"
	case verify.HeaderMethod:
		return "apitoken"
	}
	return "spoofed-admin"
}

// TestDocumentedProxies runs the documented nginx auth_request and Caddy
// forward_auth configurations against real proxies protecting an upstream
// that echoes the identity headers it receives. For every credential kind
// and route, the proxy answers as tolk's /auth/verify does, and the
// upstream sees exactly the identity headers tolk answered with, although
// the client sent its own value of every one.
func TestDocumentedProxies(t *testing.T) {
	s := tolktest.New(t)
	u := s.CreateUser(t, "mira", store.RoleLinguist, "mira-password-1")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := http.Header{}
		for _, h := range verify.IdentityHeaders() {
			if v, ok := r.Header[h]; ok {
				seen[h] = v
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen)
	}))
	t.Cleanup(upstream.Close)
	tolkURL, _ := url.Parse(s.URL)
	upURL, _ := url.Parse(upstream.URL)

	apiToken := verifytest.APIToken(t, s, "mira", "mira-password-1")
	_, bearer := verifytest.ClientCredentials(t, s, false, "read")
	_, bearerWrite := verifytest.ClientCredentials(t, s, false, "read", "write")
	_, noScope := verifytest.ClientCredentialsAsking(t, s, false, []string{"write"}, "") // X-Auth-Scopes empty
	_, ccJWT := verifytest.ClientCredentials(t, s, true, "read")
	userTMS := verifytest.UserToken(t, s, "mira", "mira-password-1", false, []string{"tms"}, "read")
	pat := verifytest.PAT(t, s, u, "read")
	apiKey := verifytest.APIKey(t, s, u)
	creds := []struct {
		name  string
		hdr   map[string]string
		query string // added to the path
	}{
		{"no credentials", nil, ""},
		{"bad bearer", map[string]string{"Authorization": "Bearer tolk_at_nonsense"}, ""},
		{"ApiToken", map[string]string{"Authorization": "ApiToken " + apiToken}, ""},
		{"ApiToken in ?token=", nil, "?token=" + apiToken},
		{"OAuth bearer read", map[string]string{"Authorization": "Bearer " + bearer}, ""},
		{"OAuth bearer read write", map[string]string{"Authorization": "Bearer " + bearerWrite}, ""},
		{"OAuth bearer without scopes", map[string]string{"Authorization": "Bearer " + noScope}, ""},
		{"OAuth JWT", map[string]string{"Authorization": "Bearer " + ccJWT}, ""},
		{"user's token for tms", map[string]string{"Authorization": "Bearer " + userTMS}, ""},
		{"PAT", map[string]string{"Authorization": "token " + pat}, ""},
		{"API key", map[string]string{"X-Proz-API-Key": apiKey}, ""},
	}
	type route struct{ path, verifyQuery string }
	for _, proxy := range []struct {
		name   string
		start  func(*testing.T, string, string) string
		routes []route
	}{
		{"nginx", startNginx, []route{{"/projects", "audience=tms"}, {"/write/projects", "audience=tms&scope=write"}}},
		{"caddy", startCaddy, []route{{"/projects", "audience=tms&scope=read"}}},
	} {
		t.Run(proxy.name, func(t *testing.T) {
			base := proxy.start(t, tolkURL.Host, upURL.Host)
			answered := map[string]bool{} // identity headers some 200 of tolk carried
			for _, rt := range proxy.routes {
				for _, c := range creds {
					t.Run(rt.path+"/"+c.name, func(t *testing.T) {
						direct := directVerify(t, s, rt.verifyQuery, rt.path+c.query, c.hdr)
						resp, seen := viaProxy(t, base+rt.path+c.query, c.hdr)
						if resp.StatusCode != direct.StatusCode {
							t.Fatalf("status %d through %s, %d from tolk", resp.StatusCode, proxy.name, direct.StatusCode)
						}
						if want := direct.Header.Get("WWW-Authenticate"); want != "" && resp.Header.Get("WWW-Authenticate") != want {
							t.Errorf("WWW-Authenticate %q, tolk answered %q", resp.Header.Get("WWW-Authenticate"), want)
						}
						if direct.StatusCode != http.StatusOK {
							return
						}
						for _, h := range verify.IdentityHeaders() {
							want, got := direct.Header.Values(h), seen.Values(h)
							if want != nil {
								answered[h] = true
							}
							// nginx leaves out a header it would send empty.
							if slices.Equal(want, []string{""}) && got == nil {
								continue
							}
							if !slices.Equal(got, want) {
								t.Errorf("upstream saw %s = %q; tolk answered %q", h, got, want)
							}
						}
						if got, want := verify.PrincipalFromHeaders(seen), verify.PrincipalFromHeaders(direct.Header); !reflect.DeepEqual(got, want) {
							t.Errorf("upstream reads %+v; tolk answered %+v", got, want)
						}
					})
				}
			}
			// Every header tolk can send was relayed at least once, so none
			// went untested.
			for _, h := range verify.IdentityHeaders() {
				if !answered[h] {
					t.Errorf("no credential made tolk answer with %s: add one", h)
				}
			}

			t.Run("logged-out ApiToken refused at once", func(t *testing.T) {
				tok := verifytest.APIToken(t, s, "mira", "mira-password-1")
				h := map[string]string{"Authorization": "ApiToken " + tok}
				if resp, _ := viaProxy(t, base+proxy.routes[0].path, h); resp.StatusCode != 200 {
					t.Fatalf("before logout: %d", resp.StatusCode)
				}
				verifytest.Logout(t, s, tok)
				if resp, _ := viaProxy(t, base+proxy.routes[0].path, h); resp.StatusCode != 401 {
					t.Fatalf("after logout: %d, want 401", resp.StatusCode)
				}
			})
		})
	}
}

// directVerify asks tolk's /auth/verify what a proxy asks it for a request
// to uri with headers hdr.
func directVerify(t *testing.T, s *tolktest.Server, query, uri string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/auth/verify?"+query, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Original-URI", uri)
	resp, _ := s.Do(t, req)
	return resp
}

// viaProxy sends a request through the proxy with hdr and a spoofed value
// of every identity header (twice: canonical and lower case), and returns
// the answer and, on a 200, the identity headers the upstream received.
func viaProxy(t *testing.T, target string, hdr map[string]string) (*http.Response, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	for _, h := range verify.IdentityHeaders() {
		req.Header[h] = []string{spoofed(h)}
		req.Header[strings.ToLower(h)] = []string{spoofed(h)} // sent as written
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var seen http.Header
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil {
			t.Fatal(err)
		}
	}
	return resp, seen
}
