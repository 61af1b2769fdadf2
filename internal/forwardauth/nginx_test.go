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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
	"github.com/tolk-project/tolk/internal/testutil/verifytest"
)

// nginxConf is the configuration documented in docs/forward-auth.md, with
// the paths and ports of a test: {{TOLK}} is tolk's host:port, {{UPSTREAM}}
// the protected service's, {{LISTEN}} nginx's, {{DIR}} a temporary
// directory.
const nginxConf = `
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

    upstream tolk { server {{TOLK}}; keepalive 8; }
    upstream api  { server {{UPSTREAM}}; }

    server {
        listen {{LISTEN}};

        # The auth subrequests: tolk sees the client's own headers
        # (Authorization, X-Proz-API-Key), the original URI (for a TMS
        # ?token=) and no body.
        location = /_tolk_verify {
            internal;
            proxy_pass http://tolk/auth/verify?audience=tms;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
        location = /_tolk_verify_write {
            internal;
            proxy_pass http://tolk/auth/verify?audience=tms&scope=write;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }

        location / {
            auth_request /_tolk_verify;
            include {{DIR}}/tolk_identity.conf;
        }
        location /write/ {
            auth_request /_tolk_verify_write;
            include {{DIR}}/tolk_identity.conf;
        }
    }
}
`

// identityConf copies tolk's answer to the upstream, replacing whatever
// X-Auth-* headers the client sent, and passes tolk's challenge on.
const identityConf = `
auth_request_set $tolk_subject $upstream_http_x_auth_subject;
auth_request_set $tolk_user    $upstream_http_x_auth_user;
auth_request_set $tolk_org     $upstream_http_x_auth_org;
auth_request_set $tolk_client  $upstream_http_x_auth_client;
auth_request_set $tolk_scopes  $upstream_http_x_auth_scopes;
auth_request_set $tolk_method  $upstream_http_x_auth_method;
auth_request_set $tolk_email   $upstream_http_remote_email;
auth_request_set $tolk_challenge $upstream_http_www_authenticate;
add_header WWW-Authenticate $tolk_challenge always;
proxy_set_header X-Auth-Subject $tolk_subject;
proxy_set_header X-Auth-User    $tolk_user;
proxy_set_header X-Auth-Org     $tolk_org;
proxy_set_header X-Auth-Client  $tolk_client;
proxy_set_header X-Auth-Scopes  $tolk_scopes;
proxy_set_header X-Auth-Method  $tolk_method;
proxy_set_header Remote-User    $tolk_user;
proxy_set_header Remote-Email   $tolk_email;
proxy_pass http://api;
`

func findNginx(t *testing.T) string {
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed (apt-get install nginx-light)")
	}
	t.Skip("nginx is not installed (apt-get install nginx-light); skipping the nginx auth_request test")
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

// startNginx runs nginx with conf until the test ends.
func startNginx(t *testing.T, bin, tolkAddr, upstreamAddr string) string {
	dir := t.TempDir()
	listen := freePort(t)
	conf := strings.NewReplacer("{{DIR}}", dir, "{{TOLK}}", tolkAddr, "{{UPSTREAM}}", upstreamAddr, "{{LISTEN}}", listen).Replace(nginxConf)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tolk_identity.conf"), []byte(identityConf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + listen
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s: %s", listen, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNginx_AuthRequest runs the documented nginx auth_request
// configuration against a real nginx protecting an upstream.
func TestNginx_AuthRequest(t *testing.T) {
	bin := findNginx(t)
	s := tolktest.New(t)
	u := s.CreateUser(t, "mira", store.RoleLinguist, "mira-password-1")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := map[string]string{}
		for _, h := range []string{"X-Auth-Subject", "X-Auth-User", "X-Auth-Org", "X-Auth-Client", "X-Auth-Scopes", "X-Auth-Method", "Remote-User", "Remote-Email"} {
			seen[h] = r.Header.Get(h)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen)
	}))
	t.Cleanup(upstream.Close)
	tolkURL, _ := url.Parse(s.URL)
	upURL, _ := url.Parse(upstream.URL)
	base := startNginx(t, bin, tolkURL.Host, upURL.Host)

	apiToken := verifytest.APIToken(t, s, "mira", "mira-password-1")
	clientID, bearer := verifytest.ClientCredentials(t, s, false, "read")
	_, bearerWrite := verifytest.ClientCredentials(t, s, false, "read", "write")

	call := func(t *testing.T, path string, hdr map[string]string) (*http.Response, map[string]string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var seen map[string]string
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil {
				t.Fatal(err)
			}
		}
		return resp, seen
	}
	for _, tc := range []struct {
		name      string
		path      string
		hdr       map[string]string
		status    int
		challenge string
		seen      map[string]string
	}{
		{"ApiToken", "/projects", map[string]string{"Authorization": "ApiToken " + apiToken}, 200, "", map[string]string{
			"X-Auth-Subject": u.UID, "X-Auth-User": "mira", "X-Auth-Org": u.OrgUID, "X-Auth-Method": "apitoken",
			"Remote-User": "mira", "Remote-Email": u.Email, "X-Auth-Client": ""}},
		{"ApiToken in ?token=", "/projects?token=" + apiToken, nil, 200, "", map[string]string{"X-Auth-Subject": u.UID}},
		{"OAuth bearer", "/projects", map[string]string{"Authorization": "Bearer " + bearer}, 200, "", map[string]string{
			"X-Auth-Subject": clientID, "X-Auth-Client": clientID, "X-Auth-Scopes": "read", "X-Auth-Method": "bearer", "X-Auth-User": ""}},
		{"forged identity headers are replaced", "/projects", map[string]string{"Authorization": "Bearer " + bearer, "X-Auth-User": "admin", "Remote-User": "admin"}, 200, "",
			map[string]string{"X-Auth-User": "", "Remote-User": ""}},
		{"no credentials", "/projects", nil, 401, `Bearer realm="tolk"`, nil},
		{"bad credentials", "/projects", map[string]string{"Authorization": "Bearer tolk_at_nonsense"}, 401,
			`Bearer realm="tolk", error="invalid_token", error_description="the access token is invalid, expired or revoked"`, nil},
		{"missing scope", "/write/projects", map[string]string{"Authorization": "Bearer " + bearer}, 403, "", nil},
		{"scope present", "/write/projects", map[string]string{"Authorization": "Bearer " + bearerWrite}, 200, "", map[string]string{"X-Auth-Scopes": "read write"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, seen := call(t, tc.path, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.challenge != "" {
				if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
					t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
				}
			}
			for k, want := range tc.seen {
				if seen[k] != want {
					t.Errorf("upstream saw %s = %q, want %q", k, seen[k], want)
				}
			}
		})
	}

	t.Run("logged-out ApiToken refused at once", func(t *testing.T) {
		tok := verifytest.APIToken(t, s, "mira", "mira-password-1")
		h := map[string]string{"Authorization": "ApiToken " + tok}
		if resp, _ := call(t, "/projects", h); resp.StatusCode != 200 {
			t.Fatalf("before logout: %d", resp.StatusCode)
		}
		verifytest.Logout(t, s, tok)
		if resp, _ := call(t, "/projects", h); resp.StatusCode != 401 {
			t.Fatalf("after logout: %d, want 401", resp.StatusCode)
		}
	})
}
