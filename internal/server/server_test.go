package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

func get(t *testing.T, s *tolktest.Server, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return send(t, s, http.MethodGet, path, "", hdr...)
}

func send(t *testing.T, s *tolktest.Server, method, path, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, b := s.Do(t, req)
	return resp, string(b)
}

func loginBody(user, pw string) string {
	b, _ := json.Marshal(map[string]string{"userName": user, "password": pw})
	return string(b)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	for _, p := range []string{"/health/alive", "/healthz", "/health/ready", "/readyz"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, s, p)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil || len(m) != 1 || m["status"] != "ok" {
				t.Errorf("body %q, want {\"status\":\"ok\"}", body)
			}
			if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", v)
			}
			resp, _ = send(t, s, http.MethodPost, p, "")
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("POST %s: %d, want 405", p, resp.StatusCode)
			}
		})
	}
}

// TestReadyWithoutDatabase: readiness reports 503 once the database is
// gone, while liveness stays 200.
func TestReadyWithoutDatabase(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	if err := s.Store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/health/ready", "/readyz"} {
		resp, body := get(t, s, p)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d, want 503", p, resp.StatusCode)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil || m["status"] == "ok" {
			t.Errorf("%s: body %q", p, body)
		}
	}
	for _, p := range []string{"/health/alive", "/healthz"} {
		if resp, _ := get(t, s, p); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d, want 200", p, resp.StatusCode)
		}
	}
	if !strings.Contains(s.Logs.String(), "database unreachable") {
		t.Errorf("the readiness failure is not logged")
	}
}

// scrape returns /metrics as a map from series (name{labels}) to value.
func scrape(t *testing.T, s *tolktest.Server) (map[string]string, string) {
	t.Helper()
	resp, body := get(t, s, "/metrics")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	m := map[string]string{}
	for _, l := range strings.Split(body, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		m[l[:i]] = l[i+1:]
	}
	return m, body
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	for _, pw := range []string{tolktest.AdminPassword, "wrong-password", "wrong-again"} {
		send(t, s, http.MethodPost, "/api2/v1/auth/login", loginBody("admin", pw), "Content-Type", "application/json")
	}
	for _, p := range []string{"/no/such/path", "/another/unknown/" + strconv.Itoa(12345), "/api2/v1/auth/whoAmI/extra"} {
		if resp, _ := get(t, s, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	send(t, s, http.MethodPost, "/login", "username=x", "Content-Type", "application/x-www-form-urlencoded") // web: 403
	get(t, s, "/healthz")

	m, body := scrape(t, s)
	for series, want := range map[string]string{
		`tolk_http_requests_total{code="200",method="POST",route="POST /api2/v1/auth/login"}`: "1",
		`tolk_http_requests_total{code="401",method="POST",route="POST /api2/v1/auth/login"}`: "2",
		`tolk_http_requests_total{code="404",method="GET",route="unmatched"}`:                 "3",
		`tolk_http_requests_total{code="403",method="POST",route="POST /login"}`:              "1",
		`tolk_http_requests_total{code="200",method="GET",route="GET /healthz"}`:              "1",
		`tolk_http_request_duration_seconds_count{route="POST /api2/v1/auth/login"}`:          "3",
		`tolk_http_request_duration_seconds_count{route="unmatched"}`:                         "3",
		`tolk_logins_total{dialect="tms",outcome="success"}`:                                  "1",
		`tolk_logins_total{dialect="tms",outcome="failure"}`:                                  "2",
	} {
		if got := m[series]; got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}
	if !strings.Contains(body, `tolk_http_request_duration_seconds_bucket{route="POST /api2/v1/auth/login",le="+Inf"} 3`) {
		t.Errorf("no latency histogram buckets for the login route")
	}
	for k := range m {
		if strings.Contains(k, "no/such") || strings.Contains(k, "12345") || strings.Contains(k, "extra") {
			t.Errorf("a raw request path became a label: %s", k)
		}
	}
	if !strings.Contains(body, "go_goroutines") {
		t.Errorf("Go runtime metrics missing")
	}
}

var requestIDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestRequestID: every response carries a fresh server-made X-Request-Id
// that appears in the request's log line; a client-sent one is ignored.
func TestRequestID(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	seen := map[string]bool{}
	for _, tc := range []struct {
		name, method, path string
		hdr                []string
	}{
		{"health", http.MethodGet, "/healthz", nil},
		{"unknown path", http.MethodGet, "/nope", nil},
		{"login error", http.MethodPost, "/api2/v1/auth/login", []string{"Content-Type", "text/plain"}},
		{"web page", http.MethodGet, "/login", nil},
		{"forged id", http.MethodGet, "/healthz", []string{"X-Request-Id", "forged-id-0001"}},
	} {
		resp, _ := send(t, s, tc.method, tc.path, "", tc.hdr...)
		id := resp.Header.Get("X-Request-Id")
		if !requestIDRE.MatchString(id) {
			t.Errorf("%s: X-Request-Id %q", tc.name, id)
			continue
		}
		if seen[id] {
			t.Errorf("%s: X-Request-Id %q reused", tc.name, id)
		}
		seen[id] = true
		found := false
		for _, l := range strings.Split(s.Logs.String(), "\n") {
			if strings.Contains(l, "request_id="+id) && strings.Contains(l, "path="+tc.path) && strings.Contains(l, "status="+strconv.Itoa(resp.StatusCode)) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no log line with request_id=%s", tc.name, id)
		}
	}
	if strings.Contains(s.Logs.String(), "forged-id-0001") {
		t.Errorf("a client-sent request id reached the logs")
	}
}

// TestLogsRedactSecrets: the access log never carries a query secret, a
// header or a body.
func TestLogsRedactSecrets(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	secrets := []string{"qs-token-value-1", "qs-code-value-2", "qs-refresh-3", "hdr-secret-4", "body-secret-5"}
	send(t, s, http.MethodGet, "/api2/v1/auth/whoAmI?token="+secrets[0]+"&code="+secrets[1]+"&refresh_token="+secrets[2]+"&page=7", "",
		"Authorization", "ApiToken "+secrets[3])
	send(t, s, http.MethodPost, "/api2/v1/auth/login", loginBody("admin", secrets[4]), "Content-Type", "application/json")
	logs := s.Logs.String()
	for _, sec := range append(secrets, tolktest.AdminPassword) {
		if strings.Contains(logs, sec) {
			t.Errorf("logs contain %q", sec)
		}
	}
	if !strings.Contains(logs, "page=7") {
		t.Errorf("harmless query parameters were dropped from the access log")
	}
}

// TestForwardedForTrust: X-Forwarded-For is believed only from a configured
// proxy, so a client cannot dodge the per-address login limit by
// inventing addresses (BCP §4.13, T37).
func TestForwardedForTrust(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		trusted   []netip.Prefix
		throttled bool
	}{
		{"untrusted peer", nil, true},
		{"other proxy trusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, true},
		{"loopback proxy trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) {
				c.LoginIPBurst = 2
				c.TrustedProxies = tc.trusted
			}})
			var last int
			for i := range 4 {
				resp, _ := send(t, s, http.MethodPost, "/api2/v1/auth/login", loginBody("user"+strconv.Itoa(i), "wrong-password"),
					"Content-Type", "application/json", "X-Forwarded-For", "198.51.100."+strconv.Itoa(i+1))
				last = resp.StatusCode
			}
			if got := last == http.StatusTooManyRequests; got != tc.throttled {
				t.Errorf("4th failure from distinct forwarded addresses: status %d, throttled %v, want %v", last, got, tc.throttled)
			}
			if !tc.throttled && !strings.Contains(s.Logs.String(), "remote=198.51.100.4") {
				t.Errorf("access log does not name the forwarded client")
			}
			if tc.throttled && strings.Contains(s.Logs.String(), "remote=198.51.100.") {
				t.Errorf("access log believes an untrusted X-Forwarded-For")
			}
		})
	}
}

// TestServe runs the production http.Server of Serve: it answers, caps
// request headers (T43), and returns cleanly when its context ends.
func TestServe(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Tolk.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	c := &http.Client{}

	do := func(hdr string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
		if hdr != "" {
			req.Header.Set("X-Big", hdr)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do(""); got != http.StatusOK {
		t.Errorf("GET /healthz: %d", got)
	}
	if got := do(strings.Repeat("a", 16<<10)); got != http.StatusOK {
		t.Errorf("16 KiB header: %d, want 200", got)
	}
	if got := do(strings.Repeat("a", 256<<10)); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("256 KiB header: %d, want 431", got)
	}
	c.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v after its context ended, want nil", err)
	}
	if _, err := c.Get(base + "/healthz"); err == nil {
		t.Errorf("still serving after shutdown")
	}
}
