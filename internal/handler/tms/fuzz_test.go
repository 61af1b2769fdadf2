package tms_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/handler/tms"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// serve runs one request through the whole server in process (no network).
func serve(s *tolktest.Server, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.Tolk.Handler.ServeHTTP(w, r)
	return w
}

// checkTMSAnswer: a JSON answer; any error in the TMS shape; never a 5xx.
func checkTMSAnswer(t *testing.T, w *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	if !bytesIn(w.Code, allowed) {
		t.Fatalf("status %d, want one of %v: %s", w.Code, allowed, w.Body)
	}
	if w.Code == http.StatusOK || w.Code == http.StatusNoContent {
		return
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	var e tms.Error
	if err := dec.Decode(&e); err != nil || e.ErrorCode == "" || e.ErrorDescription == "" {
		t.Fatalf("not a TMS error: %v: %s", err, w.Body)
	}
}

func bytesIn(n int, set []int) bool {
	for _, s := range set {
		if n == s {
			return true
		}
	}
	return false
}

// FuzzLogin: any login body and content type gets 200 or a TMS error with
// 400, 401, 413, 415 or 429; never a 5xx or a panic (T43).
func FuzzLogin(f *testing.F) {
	s := tolktest.New(f)
	for _, seed := range []struct{ ctype, body string }{
		{"application/json", loginBody("admin", tolktest.AdminPassword)},
		{"application/json", loginBody("admin", "wrong")},
		{"application/json", `{"userName":"admin\u0000","password":"x"}`},
		{"application/json", `{"userName":"' OR 1=1--","password":"x"}`},
		{"application/json", `{"userName":5,"password":"x"}`},
		{"application/json", `{"userName":"admin","password":"x","code":123456}`},
		{"application/json", `{"userName":"admin"}`},
		{"application/json", `{`},
		{"application/json", `null`},
		{"text/plain", `{}`},
		{"application/json; charset=utf-8", "{\"userName\":\"\xff\",\"password\":\"\xfe\"}"},
	} {
		f.Add(seed.ctype, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, loginPath, bytes.NewReader(body))
		r.Header["Content-Type"] = []string{ctype}
		w := serve(s, r)
		checkTMSAnswer(t, w, 200, 400, 401, 413, 415, 429)
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control %q", cc)
		}
	})
}

// FuzzAuthorization: any Authorization header or ?token= value is either
// a valid token or a 401; never a 5xx or a panic.
func FuzzAuthorization(f *testing.F) {
	// Every input is a bad credential from one address: lift the
	// invalid-token limit so this checks the parser, not the limiter
	// (which has its own tests and would answer 429 after the burst).
	s := tolktest.New(f, tolktest.Options{Config: func(c *config.Config) { c.InvalidTokenBurst = 1 << 30 }})
	for _, seed := range []struct{ header, query string }{
		{"ApiToken " + strings.Repeat("a", 64), ""},
		{"apitoken  " + strings.Repeat("Z", 64) + " ", ""},
		{"Bearer x", ""},
		{"ApiToken", ""},
		{"ApiToken ' OR 1=1--" + strings.Repeat("x", 45), ""},
		{"", strings.Repeat("a", 64)},
		{"", "\x00" + strings.Repeat("a", 63)},
		{"", "' OR 1=1--"},
	} {
		f.Add(seed.header, seed.query)
	}
	f.Fuzz(func(t *testing.T, header, query string) {
		for _, m := range []struct{ method, path string }{{http.MethodGet, whoAmIPath}, {http.MethodPost, logoutPath}} {
			r := httptest.NewRequest(m.method, m.path+"?token="+url.QueryEscape(query), nil)
			if header != "" {
				r.Header["Authorization"] = []string{header}
			}
			checkTMSAnswer(t, serve(s, r), 401)
		}
	})
}
