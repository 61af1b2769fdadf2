package oauth_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/httpx"
	"github.com/tolk-project/tolk/internal/kit/oauth"
)

// FuzzParseScope: a parsed scope is sorted, free of duplicates and empty
// tokens, made only of the RFC 6749 §3.3 characters, idempotent through
// JoinScope, and every token of the input is in it. A refused scope has a
// character outside the allowed set.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{
		"", " ", "openid", "openid profile email", "email openid email", "  read  write ",
		"a\tb", "ümlaut", "\"quoted\"", "back\\slash", "\x00", "~!#$%&'()*+,-./:;<=>?@[]^_`{|}",
		"offline_access openid", "b a b a", strings.Repeat("x ", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := oauth.ParseScope(s)
		allowed := func(c byte) bool { return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\' }
		if !ok {
			if got != nil {
				t.Fatalf("ParseScope(%q) refused with %q", s, got)
			}
			for i := 0; i < len(s); i++ {
				if s[i] != ' ' && !allowed(s[i]) {
					return
				}
			}
			t.Fatalf("ParseScope(%q) refused a scope of allowed characters", s)
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("ParseScope(%q) = %q: not sorted and distinct", s, got)
		}
		for _, tok := range got {
			if tok == "" {
				t.Fatalf("ParseScope(%q) = %q: empty token", s, got)
			}
			for i := 0; i < len(tok); i++ {
				if !allowed(tok[i]) {
					t.Fatalf("ParseScope(%q) = %q: character %q", s, got, tok[i])
				}
			}
		}
		for _, tok := range strings.Split(s, " ") {
			if tok != "" && !slices.Contains(got, tok) {
				t.Fatalf("ParseScope(%q) = %q: lost %q", s, got, tok)
			}
		}
		again, ok := oauth.ParseScope(oauth.JoinScope(got))
		if !ok || !slices.Equal(again, got) {
			t.Fatalf("ParseScope(JoinScope(%q)) = %q, %v", got, again, ok)
		}
	})
}

// FuzzMatchRedirectURI: a given redirect URI matches a registered one only
// if it is byte-for-byte equal to it, or (RFC 8252 §7.3) both are http
// URIs on the same loopback IP literal that differ only in the port.
// Registering the given URI itself always matches.
func FuzzMatchRedirectURI(f *testing.F) {
	for _, s := range []struct{ reg, given string }{
		{"https://app.example.com/cb", "https://app.example.com/cb"},
		{"https://app.example.com/cb", "https://app.example.com/cb/"},
		{"https://app.example.com/cb", "https://APP.example.com/cb"},
		{"https://app.example.com/cb", "https://app.example.com/cb?x=1"},
		{"https://app.example.com/cb", "https://app.example.com/cb#x"},
		{"https://app.example.com/cb", "https://app.example.com.evil.com/cb"},
		{"https://app.example.com/cb", "https://app.example.com@evil.com/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:51234/cb"},
		{"http://127.0.0.1:8080/cb", "http://127.0.0.1:9/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:51234/cb?x"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:51234/cb#frag"},
		{"http://127.0.0.1/cb", "http://u:p@127.0.0.1:5/cb"},
		{"http://[::1]/cb", "http://[::1]:5/cb"},
		{"http://localhost/cb", "http://localhost:5/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.2:5/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:/cb"},
		{"http://127.0.0.1/%63b", "http://127.0.0.1:5/cb"},
		{"http://127.0.0.1/cb", "http://0177.0.0.1:5/cb"},
		{"http://[::ffff:127.0.0.1]/cb", "http://[::ffff:127.0.0.1]:5/cb"},
		{"com.example.app:/cb", "com.example.app:/cb"},
	} {
		f.Add(s.reg, s.given)
	}
	f.Fuzz(func(t *testing.T, reg, given string) {
		if !oauth.MatchRedirectURI([]string{given}, given) {
			t.Fatalf("%q does not match itself", given)
		}
		if !oauth.MatchRedirectURI([]string{reg}, given) || reg == given {
			return
		}
		// Not equal, yet matched: only the loopback port may differ.
		g, gerr := url.Parse(given)
		r, rerr := url.Parse(reg)
		if gerr != nil || rerr != nil {
			t.Fatalf("%q matched %q without parsing (%v, %v)", given, reg, gerr, rerr)
		}
		loopback := func(h string) bool { a, err := netip.ParseAddr(h); return err == nil && a.IsLoopback() }
		if g.Scheme != "http" || r.Scheme != "http" || !loopback(g.Hostname()) || g.Hostname() != r.Hostname() ||
			g.Port() == "" || g.User != nil || r.User != nil || strings.Contains(given, "#") || strings.Contains(reg, "#") || g.ForceQuery != r.ForceQuery {
			t.Fatalf("%q matched %q, which is not a loopback port variant", given, reg)
		}
		// Everything but the port is the same text.
		strip := func(u *url.URL) string {
			c := *u
			c.Host = c.Hostname()
			if strings.Contains(c.Host, ":") {
				c.Host = "[" + c.Host + "]"
			}
			return c.String()
		}
		if strip(g) != strip(r) || g.EscapedPath() != r.EscapedPath() || g.RawQuery != r.RawQuery {
			t.Fatalf("%q matched %q but differs beyond the port (%q vs %q)", given, reg, strip(g), strip(r))
		}
	})
}

// FuzzValidRedirectURI: a registrable URI is absolute, has no fragment,
// credentials or whitespace, is https with a host, http on a loopback host,
// or a private-use scheme with a period; never javascript:, data:, file:.
func FuzzValidRedirectURI(f *testing.F) {
	for _, s := range []string{
		"https://app.example.com/cb", "https://app.example.com/cb#x", "https://u:p@app.example.com/cb",
		"http://app.example.com/cb", "http://127.0.0.1:8080/cb", "http://localhost/cb", "http://[::1]/cb",
		"com.example.app:/cb", "myapp:/cb", "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x",
		"file:///etc/passwd", "/relative", "https:///nohost", "https://a b/", "https://app.example.com/cb\n",
		"https://app.example.com/%zz", "", "https://", "http://localhost.evil.com/cb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !oauth.ValidRedirectURI(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil || !u.IsAbs() || u.Fragment != "" || u.User != nil || strings.ContainsAny(s, " \t\r\n") {
			t.Fatalf("ValidRedirectURI(%q) accepted: %+v %v", s, u, err)
		}
		switch strings.ToLower(u.Scheme) {
		case "javascript", "data", "file", "vbscript":
			t.Fatalf("ValidRedirectURI(%q) accepted a dangerous scheme", s)
		}
		switch u.Scheme {
		case "https":
			if u.Host == "" {
				t.Fatalf("ValidRedirectURI(%q): https without host", s)
			}
		case "http":
			h := u.Hostname()
			a, aerr := netip.ParseAddr(h)
			if h != "localhost" && (aerr != nil || !a.IsLoopback()) {
				t.Fatalf("ValidRedirectURI(%q): http on a non-loopback host", s)
			}
		default:
			if !strings.Contains(u.Scheme, ".") {
				t.Fatalf("ValidRedirectURI(%q): private-use scheme without a period", s)
			}
		}
		// A registrable URI matches itself.
		if !oauth.MatchRedirectURI([]string{s}, s) {
			t.Fatalf("%q does not match its own registration", s)
		}
	})
}

// FuzzPKCE: a verifier is valid exactly when it has 43–128 unreserved
// characters (RFC 7636 §4.1); S256 is 43 base64url characters, and a
// verifier passes only against its own challenge.
func FuzzPKCE(f *testing.F) {
	for _, s := range []struct{ verifier, challenge string }{
		{"dBjftJeZ4CVP-mJ92K27uhbUJU1p1r7-Ok9sfNtl6g-", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		{"dBjftJeZ4CVP-mJ92K27uhbUJU1p1r7-Ok9sfNtl6g-", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cm"},
		{strings.Repeat("a", 42), ""},
		{strings.Repeat("a", 43), "plain"},
		{strings.Repeat("a", 128), ""},
		{strings.Repeat("a", 129), ""},
		{strings.Repeat("a", 42) + "+", ""},
		{strings.Repeat("~", 43), strings.Repeat("~", 43)},
		{"", ""},
	} {
		f.Add(s.verifier, s.challenge)
	}
	f.Fuzz(func(t *testing.T, verifier, challenge string) {
		want := len(verifier) >= 43 && len(verifier) <= 128 &&
			strings.Trim(verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == ""
		if oauth.ValidVerifier(verifier) != want {
			t.Fatalf("ValidVerifier(%q) = %v", verifier, !want)
		}
		c := oauth.S256(verifier)
		if b, err := base64.RawURLEncoding.Strict().DecodeString(c); err != nil || len(c) != 43 || len(b) != 32 {
			t.Fatalf("S256(%q) = %q", verifier, c)
		}
		if !oauth.VerifyPKCE(verifier, c) {
			t.Fatalf("VerifyPKCE(%q, own challenge) = false", verifier)
		}
		if challenge != c && oauth.VerifyPKCE(verifier, challenge) {
			t.Fatalf("VerifyPKCE(%q, %q) accepted a foreign challenge", verifier, challenge)
		}
		if oauth.VerifyPKCE(verifier, verifier) && verifier != c {
			t.Fatalf("VerifyPKCE accepted plain %q", verifier)
		}
	})
}

// FuzzClientCredentials: client authentication on a token request,
// through the real form parser. A request is refused with an OAuth error
// (invalid_request or invalid_client), or yields exactly one method:
// client_secret_basic with the form-urlencoded Basic values decoded
// (RFC 6749 §2.3.1), client_secret_post with the body's secret, or none;
// Basic and a body secret together are always refused.
func FuzzClientCredentials(f *testing.F) {
	enc := func(id, sec string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec)))
	}
	for _, s := range []struct{ authz, body string }{
		{enc("app", "tolk_cs_x"), "grant_type=client_credentials"},
		{enc("a:b%c+d", "s:e%c+r et"), "grant_type=client_credentials"},
		{enc("app", "s"), "client_secret=s"},
		{enc("app", "s"), "client_id=other"},
		{enc("app", "s"), "client_id=app"},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("a%zz:b")), ""},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("a:b%")), ""},
		{"Basic !!", ""},
		{"Bearer x", "client_id=app"},
		{"", "client_id=app&client_secret=s"},
		{"", "client_id=app"},
		{"", "client_secret=s"},
		{"", "client_id=a&client_id=b"},
		{"", "client_id=%00"},
	} {
		f.Add(s.authz, s.body)
	}
	f.Fuzz(func(t *testing.T, authz, body string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		if err := httpx.ParseForm(httptest.NewRecorder(), r); err != nil {
			return // FuzzParseForm covers the form parser
		}
		id, sec, method, err := oauth.ClientCredentials(r)
		bid, bsec, hasBasic := r.BasicAuth()
		psecret := r.PostForm.Get("client_secret")
		if err != nil {
			e := oauth.AsError(err)
			if e == nil || (e.Code != "invalid_request" && e.Code != "invalid_client") {
				t.Fatalf("error %v (%T) is not invalid_request/invalid_client", err, err)
			}
			if id != "" || sec != "" || method != "" {
				t.Fatalf("error with result %q %q %q", id, sec, method)
			}
			return
		}
		switch method {
		case "client_secret_basic":
			if !hasBasic || psecret != "" {
				t.Fatalf("basic without Basic, or with a body secret too")
			}
			wid, e1 := url.QueryUnescape(bid)
			wsec, e2 := url.QueryUnescape(bsec)
			if e1 != nil || e2 != nil || id != wid || sec != wsec {
				t.Fatalf("Basic %q:%q gave %q:%q", bid, bsec, id, sec)
			}
			if pid := r.PostForm.Get("client_id"); pid != "" && pid != id {
				t.Fatalf("body client_id %q accepted with Basic %q", pid, id)
			}
		case "client_secret_post":
			if authz != "" || sec == "" || sec != psecret || id != r.PostForm.Get("client_id") {
				t.Fatalf("post: %q %q from %q / %q", id, sec, authz, body)
			}
		case "none":
			if authz != "" || sec != "" || psecret != "" || id != r.PostForm.Get("client_id") {
				t.Fatalf("none: %q %q from %q / %q", id, sec, authz, body)
			}
		default:
			t.Fatalf("method %q", method)
		}
	})
}

// FuzzSingleValues: a token or authorization request form is refused with
// invalid_request exactly when some parameter is repeated (RFC 6749 §3.1,
// §3.2), and the error names that parameter.
func FuzzSingleValues(f *testing.F) {
	for _, s := range []string{
		"", "grant_type=authorization_code&code=x", "code=a&code=b", "code=a&CODE=b", "a=1;a=2",
		"a&a", "=&=", "a=%zz&a=1", "scope=a+b&scope=", "x=" + strings.Repeat("y", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, _ := url.ParseQuery(body)
		err := oauth.SingleValues(v)
		var repeated []string
		for k, vs := range v {
			if len(vs) > 1 {
				repeated = append(repeated, k)
			}
		}
		if (err == nil) != (len(repeated) == 0) {
			t.Fatalf("SingleValues(%q) = %v, repeated %q", body, err, repeated)
		}
		if err == nil {
			return
		}
		e := oauth.AsError(err)
		if e == nil || e.Code != "invalid_request" || e.Status != http.StatusBadRequest {
			t.Fatalf("SingleValues(%q) = %v", body, err)
		}
		named := false
		for _, k := range repeated {
			if strings.Contains(e.Description, "parameter "+k+" ") {
				named = true
			}
		}
		if !named {
			t.Fatalf("SingleValues(%q): %q names none of %q", body, e.Description, repeated)
		}
	})
}
