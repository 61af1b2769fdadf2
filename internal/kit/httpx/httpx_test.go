package httpx_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/reqctx"
)

func TestRedactQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"page=2", "page=2"},
		{"token=abc", "token=REDACTED"},
		{"TOKEN=abc", "TOKEN=REDACTED"},
		{"Token=abc&page=2", "Token=REDACTED&page=2"},
		{"token=a&token=b", "token=REDACTED"},
		{"tok%65n=abc", "token=REDACTED"}, // the key is compared decoded
		{"access_token=a&refresh_token=b&id_token=c", "access_token=REDACTED&id_token=REDACTED&refresh_token=REDACTED"},
		{"id_token_hint=x&code=y&code_verifier=z", "code=REDACTED&code_verifier=REDACTED&id_token_hint=REDACTED"},
		{"client_secret=s&password=p&subject_token=t", "client_secret=REDACTED&password=REDACTED&subject_token=REDACTED"},
		{"state=s&nonce=n&key=k&api_key=a", "api_key=REDACTED&key=REDACTED&nonce=REDACTED&state=REDACTED"},
		{"token=", "token=REDACTED"},
		{"token", "token=REDACTED"},
		{"client_id=app&scope=openid+profile", "client_id=app&scope=openid+profile"},
		{"tokens=x&my_token=y", "my_token=y&tokens=x"}, // only exact names
		{"token=abc%zz", "[unparseable]"},
		{"page=1;token=abc", "[unparseable]"},
		{"a=%zz&token=secret", "[unparseable]"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := httpx.RedactQuery(tc.in); got != tc.want {
				t.Errorf("RedactQuery(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestWithClientIP: X-Forwarded-For counts only when the peer is a trusted
// proxy, and then the right-most hop that is not a trusted proxy wins.
func TestWithClientIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"no proxies, no header", nil, "203.0.113.5:1234", nil, "203.0.113.5"},
		{"no proxies configured: header ignored", nil, "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"untrusted peer: header ignored", trusted, "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"untrusted peer claiming a trusted hop", trusted, "203.0.113.5:1234", []string{"10.0.0.7"}, "203.0.113.5"},
		{"trusted proxy, one hop", trusted, "10.0.0.1:443", []string{"198.51.100.7"}, "198.51.100.7"},
		{"trusted proxy: right-most untrusted hop", trusted, "10.0.0.1:443", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", trusted, "10.0.0.1:443", []string{"1.2.3.4, 198.51.100.7, 10.0.0.2, 10.9.9.9"}, "198.51.100.7"},
		{"several header lines", trusted, "10.0.0.1:443", []string{"1.2.3.4", "198.51.100.7"}, "198.51.100.7"},
		{"spaces around hops", trusted, "10.0.0.1:443", []string{" 1.2.3.4 ,  198.51.100.7  "}, "198.51.100.7"},
		{"garbage right-most hop: stop at the proxy", trusted, "10.0.0.1:443", []string{"198.51.100.7, garbage"}, "10.0.0.1"},
		{"garbage left of the client", trusted, "10.0.0.1:443", []string{"garbage, 198.51.100.7"}, "198.51.100.7"},
		{"empty header", trusted, "10.0.0.1:443", []string{""}, "10.0.0.1"},
		{"trusted proxy, no header", trusted, "10.0.0.1:443", nil, "10.0.0.1"},
		{"only trusted hops", trusted, "10.0.0.1:443", []string{"10.0.0.3"}, "10.0.0.3"},
		{"IPv4-mapped peer is trusted", trusted, "[::ffff:10.0.0.1]:443", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv4-mapped hop is unmapped", trusted, "10.0.0.1:443", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"IPv6 proxy and client", trusted, "[fd00::1]:443", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6 untrusted peer", trusted, "[2001:db8::2]:443", []string{"198.51.100.7"}, "2001:db8::2"},
		{"peer without port", trusted, "203.0.113.5", nil, "203.0.113.5"},
		{"IPv4-mapped untrusted peer is unmapped", trusted, "[::ffff:203.0.113.5]:443", nil, "203.0.113.5"},
		{"IPv6 peer is canonicalized", nil, "[2001:DB8:0::2]:443", nil, "2001:db8::2"},
		{"unparseable peer kept as is", nil, "not-an-address", nil, "not-an-address"},
		{"trusted proxy, client hop equal to the peer", trusted, "10.0.0.1:443", []string{"10.0.0.1"}, "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got string
			h := httpx.WithClientIP(tc.trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = httpx.ClientIP(r.Context())
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

type loginReq struct {
	UserName *string `json:"userName"`
	Count    int     `json:"count"`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	big := `{"userName":"` + strings.Repeat("a", httpx.MaxBody) + `"}`
	// exact is an object of exactly MaxBody bytes.
	exact := `{"userName":"` + strings.Repeat("a", httpx.MaxBody-len(`{"userName":""}`)) + `"}`
	for _, tc := range []struct {
		name   string
		ctype  string
		body   string
		status int // 0 = success
		field  string
	}{
		{"ok", "application/json", `{"userName":"alice","count":3}`, 0, ""},
		{"ok with charset", "application/json; charset=utf-8", `{"userName":"alice"}`, 0, ""},
		{"ok upper-case type", "Application/JSON", `{"userName":"alice"}`, 0, ""},
		{"ok trailing whitespace", "application/json", "{\"userName\":\"alice\"}\n\t ", 0, ""},
		{"ok unknown field", "application/json", `{"userName":"alice","extra":[1,2]}`, 0, ""},
		{"ok exactly MaxBody", "application/json", exact, 0, ""},
		{"no content type", "", `{}`, 415, ""},
		{"text/plain", "text/plain", `{}`, 415, ""},
		{"form", "application/x-www-form-urlencoded", `{}`, 415, ""},
		{"json suffix type", "application/merge-patch+json", `{}`, 415, ""},
		{"malformed type", "application/json; =", `{}`, 415, ""},
		{"too large", "application/json", big, 413, ""},
		{"too large by one byte", "application/json", exact + " ", 413, ""},
		{"too large after a valid object", "application/json", `{}` + strings.Repeat(" ", httpx.MaxBody), 413, ""},
		{"trailing object", "application/json", `{"userName":"a"}{"userName":"b"}`, 400, ""},
		{"trailing garbage", "application/json", `{"userName":"a"} x`, 400, ""},
		{"trailing bracket", "application/json", `{"userName":"a"}]`, 400, ""},
		{"wrong type string", "application/json", `{"userName":5}`, 400, "userName"},
		{"wrong type int", "application/json", `{"count":"3"}`, 400, "count"},
		{"top-level array", "application/json", `[]`, 400, ""},
		{"top-level string", "application/json", `"x"`, 400, ""},
		{"malformed", "application/json", `{"userName":`, 400, ""},
		{"not JSON", "application/json", `userName=a`, 400, ""},
		{"empty body", "application/json", ``, 400, ""},
		{"invalid UTF-8 ok as replacement", "application/json", "{\"userName\":\"a\xffb\"}", 0, ""},
		{"NUL outside a string", "application/json", "{\x00}", 400, ""},
		{"deep nesting", "application/json", `{"extra":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, 0, ""},
		{"too deep nesting", "application/json", `{"extra":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			var dst loginReq
			err := httpx.DecodeJSON(httptest.NewRecorder(), r, &dst)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				return
			}
			var in *httpx.InputError
			if !errors.As(err, &in) {
				t.Fatalf("error %v (%T), want *InputError with status %d", err, err, tc.status)
			}
			if in.Status != tc.status {
				t.Errorf("status %d, want %d (%s)", in.Status, tc.status, in.Message)
			}
			if in.Field != tc.field {
				t.Errorf("field %q, want %q", in.Field, tc.field)
			}
			if in.Message == "" || strings.Contains(in.Message, strings.Repeat("a", 300)) || len(in.Message) > 300 {
				t.Errorf("message %.80q… is empty or echoes the body", in.Message)
			}
		})
	}
	t.Run("decoded value", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"userName":"alice","count":3}`))
		r.Header.Set("Content-Type", "application/json")
		var dst loginReq
		if err := httpx.DecodeJSON(httptest.NewRecorder(), r, &dst); err != nil || dst.UserName == nil || *dst.UserName != "alice" || dst.Count != 3 {
			t.Errorf("got %+v, %v", dst, err)
		}
	})
}

func TestParseForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, ctype, body string
		status            int
	}{
		{"ok", "application/x-www-form-urlencoded", "a=1&b=2", 0},
		{"ok with charset", "application/x-www-form-urlencoded; charset=UTF-8", "a=1", 0},
		{"json", "application/json", "a=1", 415},
		{"multipart", "multipart/form-data; boundary=x", "a=1", 415},
		{"none", "", "a=1", 415},
		{"malformed", "application/x-www-form-urlencoded", "a=%zz", 400},
		{"too large", "application/x-www-form-urlencoded", "a=" + strings.Repeat("b", httpx.MaxBody), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			err := httpx.ParseForm(httptest.NewRecorder(), r)
			if tc.status == 0 {
				if err != nil || r.PostForm.Get("a") != "1" {
					t.Fatalf("ParseForm: %v, a=%q", err, r.PostForm.Get("a"))
				}
				return
			}
			var in *httpx.InputError
			if !errors.As(err, &in) || in.Status != tc.status {
				t.Errorf("error %v, want status %d", err, tc.status)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "1"},
		{0, "1"},
		{time.Nanosecond, "1"},
		{999 * time.Millisecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Nanosecond, "2"},
		{1500 * time.Millisecond, "2"},
		{59*time.Second + 500*time.Millisecond, "60"},
		{time.Minute, "60"},
		{time.Hour, "3600"},
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			httpx.RetryAfter(w, tc.d)
			if got := w.Header().Get("Retry-After"); got != tc.want {
				t.Errorf("RetryAfter(%s) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

func TestRequestIDIsServerMade(t *testing.T) {
	t.Parallel()
	var ctxID string
	h := httpx.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctxID = httpx.RequestID(r.Context())
	}))
	seen := map[string]bool{}
	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-Request-Id", "injected\nlevel=ERROR msg=forged")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		id := w.Header().Get("X-Request-Id")
		if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" || id != ctxID || seen[id] {
			t.Errorf("request id %q (context %q): want a fresh 16-hex id in both", id, ctxID)
		}
		seen[id] = true
	}
	if httpx.RequestID(httptest.NewRequest(http.MethodGet, "/", nil).Context()) != "" {
		t.Errorf("RequestID outside the middleware is not empty")
	}
}

// TestRequestIDsStayPut: an id kept after its request (the string points
// into the request's state) is never changed by later requests.
func TestRequestIDsStayPut(t *testing.T) {
	t.Parallel()
	var ids, copies []string
	h := httpx.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := httpx.RequestID(r.Context())
		ids, copies = append(ids, id), append(copies, strings.Clone(id))
	}))
	for range 200 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
	for i := range ids {
		if ids[i] != copies[i] || (i > 0 && ids[i] == ids[i-1]) {
			t.Fatalf("id %d is %q, was %q (previous %q)", i, ids[i], copies[i], ids[max(i-1, 0)])
		}
	}
}

// TestAccessLog: one line per request with status and redacted query;
// never headers or bodies.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	h := httpx.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("hello"))
	}), httpx.WithRequestID, httpx.WithClientIP(nil), httpx.AccessLog(log))
	q := url.Values{"token": {"sekrit-token"}, "code": {"sekrit-code"}, "page": {"3"}}
	r := httptest.NewRequest(http.MethodPost, "/x?"+q.Encode(), strings.NewReader("password=sekrit-body"))
	r.Header.Set("Authorization", "ApiToken sekrit-header")
	r.Header.Set("Cookie", "tolk_session=sekrit-cookie")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	line := buf.String()
	if strings.Count(line, "\n") != 1 {
		t.Fatalf("want one log line, got %q", line)
	}
	for _, want := range []string{"status=418", "bytes=5", "method=POST", "path=/x", "remote=192.0.2.1", "request_id=" + w.Header().Get("X-Request-Id"), "page=3", "token=REDACTED"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
	if strings.Contains(line, "sekrit") {
		t.Errorf("log line leaks a secret: %s", line)
	}
}

// TestAccessLogQuietPaths: a quiet path's 200 answers are logged at Debug
// (absent at Info, present at Debug); its denials and every answer of
// another path at Info.
func TestAccessLogQuietPaths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path   string
		status int
		level  slog.Level
		logged bool
	}{
		{"/auth/verify", http.StatusOK, slog.LevelInfo, false},
		{"/auth/verify", http.StatusOK, slog.LevelDebug, true},
		{"/auth/verify", http.StatusUnauthorized, slog.LevelInfo, true},
		{"/auth/verify", http.StatusForbidden, slog.LevelInfo, true},
		{"/auth/verify/x", http.StatusOK, slog.LevelInfo, true},
		{"/oauth/token", http.StatusOK, slog.LevelInfo, true},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
		h := httpx.Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
		}), httpx.WithRequestID, httpx.AccessLog(log, "/auth/verify"))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, tc.path, nil))
		line := buf.String()
		if logged := strings.Contains(line, "path="+tc.path); logged != tc.logged {
			t.Errorf("%s %d at %v: logged %v, want %v: %q", tc.path, tc.status, tc.level, logged, tc.logged, line)
		}
		if tc.logged && tc.status == http.StatusOK && tc.path == "/auth/verify" && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("quiet 200 logged at another level: %q", line)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	for _, hsts := range []bool{false, true} {
		h := httpx.SecurityHeaders(hsts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/html" {
				httpx.HTMLHeaders(w)
			}
		}))
		for _, path := range []string{"/json", "/html"} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			hd := w.Header()
			for k, v := range map[string]string{
				"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
				"Cross-Origin-Opener-Policy": "same-origin",
			} {
				if hd.Get(k) != v {
					t.Errorf("hsts=%v %s: %s = %q, want %q", hsts, path, k, hd.Get(k), v)
				}
			}
			if !strings.Contains(hd.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("hsts=%v %s: CSP %q", hsts, path, hd.Get("Content-Security-Policy"))
			}
			if got := hd.Get("Strict-Transport-Security") != ""; got != hsts {
				t.Errorf("hsts=%v %s: Strict-Transport-Security %q", hsts, path, hd.Get("Strict-Transport-Security"))
			}
			if path == "/html" && (hd.Get("Cache-Control") != "no-store" || hd.Get("Pragma") != "no-cache" || hd.Get("Content-Type") != "text/html; charset=utf-8") {
				t.Errorf("HTMLHeaders: %v", hd)
			}
		}
	}
}

// TestSecurityHeadersExemptPath: an exempt path gets none of the headers
// (its handler sets them where a browser may see the answer), others all.
func TestSecurityHeadersExemptPath(t *testing.T) {
	t.Parallel()
	sh := httpx.SecurityHeaders(true, "/auth/verify")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			w.WriteHeader(http.StatusMethodNotAllowed)
		case http.MethodPut:
			w.WriteHeader(http.StatusOK)
			w.WriteHeader(http.StatusInternalServerError) // superfluous: the 200 stands
		}
	}))
	// Alone, and behind WithRequestID, whose request state lends the
	// exempt path its writer.
	for name, h := range map[string]http.Handler{"alone": sh, "with state": httpx.WithRequestID(sh)} {
		for path, want := range map[string]bool{"/auth/verify": false, "/auth/verify/x": true, "/oauth/token": true} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			for _, k := range []string{"X-Frame-Options", "Content-Security-Policy", "Strict-Transport-Security"} {
				if got := w.Header().Get(k) != ""; got != want {
					t.Errorf("%s, %s: %s present=%v, want %v", name, path, k, got, want)
				}
			}
		}
		// On an exempt path every answer but a 200 gets them.
		for method, want := range map[string]bool{http.MethodPost: true, http.MethodPut: false} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(method, "/auth/verify", nil))
			if got := w.Header().Get("X-Frame-Options") != ""; got != want {
				t.Errorf("%s, %s /auth/verify (%d): X-Frame-Options present=%v, want %v", name, method, w.Code, got, want)
			}
		}
	}
	hd := http.Header{}
	httpx.SetSecurityHeaders(false)(hd)
	if hd.Get("X-Frame-Options") != "DENY" || hd.Get("Strict-Transport-Security") != "" {
		t.Errorf("SetSecurityHeaders(false): %v", hd)
	}
}

// TestRequestState: the request id and the client address of the
// server's chain, and the actor named while serving, are the request's
// reqctx facts, whatever the order of the middleware, and they do not
// leak between requests.
func TestRequestState(t *testing.T) {
	t.Parallel()
	type seen struct {
		info  reqctx.Info
		actor string
	}
	var got seen
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		prev := reqctx.Actor(ctx)
		reqctx.SetActor(ctx, "user-1")
		if httpx.RequestID(ctx) != reqctx.From(ctx).RequestID || httpx.ClientIP(ctx) != reqctx.From(ctx).ClientIP {
			t.Error("httpx and reqctx disagree")
		}
		got = seen{reqctx.From(ctx), prev + "|" + reqctx.Actor(ctx)}
	})
	for name, h := range map[string]http.Handler{
		"id first": httpx.Chain(inner, httpx.WithRequestID, httpx.WithClientIP(nil)),
		"ip first": httpx.Chain(inner, httpx.WithClientIP(nil), httpx.WithRequestID),
	} {
		for range 2 {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			want := seen{reqctx.Info{ClientIP: "192.0.2.1", RequestID: w.Header().Get("X-Request-Id")}, "|user-1"}
			if got != want || want.info.RequestID == "" {
				t.Errorf("%s: got %+v, want %+v", name, got, want)
			}
		}
	}
}

// TestRequestStateIsTheContext: the request state is the request's
// context; its parent's values, deadline and cancellation pass through.
func TestRequestStateIsTheContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	var inner context.Context
	h := httpx.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if ctx.Value(key{}) != "v" {
			t.Error("parent value lost")
		}
		var stop context.CancelFunc
		inner, stop = context.WithCancel(ctx)
		_ = stop
		if httpx.RequestID(inner) == "" {
			t.Error("request id not visible from a derived context")
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil).WithContext(parent))
	cancel()
	select {
	case <-inner.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the parent did not reach a context derived from the request state")
	}
}

// TestNestedRequestID: a request passing through WithRequestID twice gets
// a second id inside, the outer one outside, and the client address and
// the actor in both.
func TestNestedRequestID(t *testing.T) {
	t.Parallel()
	var inner, outerAfter string
	h := httpx.Chain(httpx.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = httpx.RequestID(r.Context())
		if httpx.ClientIP(r.Context()) != "192.0.2.1" {
			t.Errorf("inner ClientIP %q", httpx.ClientIP(r.Context()))
		}
		if reqctx.Actor(r.Context()) != "user-1" {
			t.Errorf("inner actor %q", reqctx.Actor(r.Context()))
		}
	})), httpx.WithRequestID, httpx.WithClientIP(nil))
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		outerAfter = httpx.RequestID(r.Context())
	})
	var first string
	httpx.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first = httpx.RequestID(r.Context())
		reqctx.SetActor(r.Context(), "user-1")
		outer.ServeHTTP(w, r)
		if httpx.RequestID(r.Context()) != first {
			t.Errorf("outer id changed from %q to %q", first, httpx.RequestID(r.Context()))
		}
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if inner == "" || inner == first || outerAfter != first {
		t.Errorf("ids: outer %q, inner %q, outer after %q", first, inner, outerAfter)
	}
}
