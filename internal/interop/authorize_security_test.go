package interop

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// Tests for SECURITY.md section A (T1–T18): the authorization endpoint
// and the browser surface, driven over HTTP through the real login and
// consent forms.

// T1: redirect_uri is compared by exact string; the only variation
// allowed is the port of a loopback redirect (RFC 8252 §7.3).
func TestT1_RedirectURIExactMatch(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{RedirectURIs: []string{azGoodRedirect, azQueryRedirect, azLoopbackRedirect}})
	bad := []struct{ name, uri string }{
		{"extra path segment", "https://good.example/cb/extra"},
		{"path case", "https://good.example/CB"},
		{"trailing slash", "https://good.example/cb/"},
		{"added query", "https://good.example/cb?foo=bar"},
		{"empty query", "https://good.example/cb?"},
		{"fragment", "https://good.example/cb#frag"},
		{"empty fragment", "https://good.example/cb#"},
		{"userinfo trick", "https://good.example@evil.example/cb"},
		{"userinfo", "https://user@good.example/cb"},
		{"other port on non-loopback host", "https://good.example:8443/cb"},
		{"default port spelled out", "https://good.example:443/cb"},
		{"host case", "https://GOOD.example/cb"},
		{"scheme downgrade", "http://good.example/cb"},
		{"other host", "https://evil.example/cb"},
		{"subdomain", "https://good.example.evil.example/cb"},
		{"percent-encoded path char", "https://good.example/%63b"},
		{"percent-encoded slash", "https://good.example/cb%2Fextra"},
		{"percent-encoded host", "https://good%2Eexample/cb"},
		{"dot segment", "https://good.example/x/../cb"},
		{"encoded space", "https://good.example/cb%20"},
		{"NUL", "https://good.example/cb%00"},
		{"registered query removed", "https://good.example/q"},
		{"registered query changed", "https://good.example/q?foo=baz"},
		{"registered query extended", "https://good.example/q?foo=bar&baz=1"},
		{"registered query reordered", "https://good.example/q?baz=1&foo=bar"},
		{"registered query percent-encoded", "https://good.example/q?foo=%62ar"},
		{"loopback extra path", "http://127.0.0.1:53412/cb/extra"},
		{"loopback path case", "http://127.0.0.1:53412/CB"},
		{"loopback added query", "http://127.0.0.1:53412/cb?x=1"},
		{"loopback fragment", "http://127.0.0.1:53412/cb#f"},
		{"loopback userinfo", "http://evil@127.0.0.1:53412/cb"},
		{"loopback other address", "http://127.0.0.2:53412/cb"},
		{"loopback IPv6 for IPv4", "http://[::1]:53412/cb"},
		{"loopback by name", "http://localhost:53412/cb"},
		{"loopback https", "https://127.0.0.1:53412/cb"},
		{"loopback percent-encoded path", "http://127.0.0.1:53412/%63b"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			// A well-formed request, and one with an error condition
			// that would otherwise be redirected.
			for _, rt := range []string{"code", "", "bogus"} {
				p := e.browser(t).Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", tc.uri, "response_type", rt, "state", "s1"))
				azAssertErrorPage(t, p)
			}
			// Signed in with consent already given, a mismatch must
			// still not produce a code.
			p := e.signedIn(t).Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", tc.uri, "response_type", "code", "prompt", "none"))
			azAssertErrorPage(t, p)
		})
	}

	t.Run("exact match", func(t *testing.T) {
		for _, ru := range []string{azGoodRedirect, azQueryRedirect} {
			code := e.codeFor(t, e.browser(t), azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", ru, "response_type", "code", "state", "s1"), ru)
			e.mustExchange(t, code, ru)
		}
	})
	t.Run("registered query kept", func(t *testing.T) {
		p := e.browser(t).Authorize(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azQueryRedirect, "response_type", "code"), "admin", tolktest.AdminPassword, "allow")
		q := azAssertClientRedirect(t, p, azQueryRedirect)
		if q.Get("foo") != "bar" || q.Get("code") == "" {
			t.Fatalf("response at %s", p.Location)
		}
	})
	t.Run("loopback port may vary", func(t *testing.T) {
		ru := "http://127.0.0.1:53412/cb"
		code := e.codeFor(t, e.browser(t), azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", ru, "response_type", "code", "state", "s1"), ru)
		e.mustExchange(t, code, ru)
		// An error about a validated loopback redirect goes back to it.
		p := e.browser(t).Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", ru, "state", "s2"))
		azAssertRedirectError(t, p, ru, "invalid_request", "s2", e.s.URL)
	})
}

// T2: redirect_uri may be left out only for plain OAuth with exactly one
// registered URI; never with two, never with openid.
func TestT2_RedirectURIOmitted(t *testing.T) {
	s := azNewServer(t)
	two, _ := azNewClient(t, s, authz.ClientSpec{RedirectURIs: []string{azGoodRedirect, "https://good.example/other"}})
	one, _ := azNewClient(t, s, authz.ClientSpec{RedirectURIs: []string{azGoodRedirect}})
	cases := []struct {
		name   string
		client string
		scope  string
	}{
		{"two registered", two.ID, ""},
		{"two registered, openid", two.ID, "openid"},
		{"one registered, openid", one.ID, "openid"},
		{"one registered, openid among others", one.ID, "profile openid email"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, rt := range []string{"code", ""} {
				p := oauthflow.New(t, s.URL).Get(t, azAuthURL(s.URL, "client_id", tc.client, "response_type", rt, "scope", tc.scope, "nonce", "n", "state", "s"))
				azAssertErrorPage(t, p)
			}
		})
	}
	t.Run("one registered, plain OAuth", func(t *testing.T) {
		b := oauthflow.New(t, s.URL)
		p := b.Get(t, azAuthURL(s.URL, "client_id", one.ID, "response_type", "code", "state", "s"))
		if !azIsLoginRedirect(b, p) {
			t.Fatalf("plain OAuth with one registered URI should proceed to login: %d %v", p.Status, p.Location)
		}
	})
}

// T3: a request whose client or redirect URI cannot be trusted is never
// redirected, whatever else is wrong with it.
func TestT3_UntrustedClientNoRedirect(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	cases := []struct {
		name string
		kv   []string
	}{
		{"unknown client, no response_type", []string{"client_id", "nope", "redirect_uri", azGoodRedirect, "state", "s"}},
		{"unknown client, bad response_type", []string{"client_id", "nope", "redirect_uri", azGoodRedirect, "response_type", "bogus"}},
		{"unknown client, prompt=none", []string{"client_id", "nope", "redirect_uri", azGoodRedirect, "response_type", "code", "prompt", "none"}},
		{"unknown client, evil redirect", []string{"client_id", "nope", "redirect_uri", "https://evil.example/cb", "response_type", "code"}},
		{"missing client, bad response_type", []string{"redirect_uri", azGoodRedirect, "response_type", "bogus", "state", "s"}},
		{"missing client, invalid scope", []string{"redirect_uri", azGoodRedirect, "response_type", "code", "scope", "nope"}},
		{"empty client_id", []string{"client_id", " ", "redirect_uri", azGoodRedirect, "response_type", "code"}},
		{"client_id of another case", []string{"client_id", strings.ToUpper(e.client.ID), "redirect_uri", azGoodRedirect}},
		{"bad redirect, no response_type", []string{"client_id", e.client.ID, "redirect_uri", "https://evil.example/cb", "state", "s"}},
		{"bad redirect, invalid scope", []string{"client_id", e.client.ID, "redirect_uri", "https://evil.example/cb", "response_type", "code", "scope", "nope"}},
		{"bad redirect, prompt=none", []string{"client_id", e.client.ID, "redirect_uri", "https://evil.example/cb", "response_type", "code", "prompt", "none"}},
		{"bad redirect, unsupported response_mode", []string{"client_id", e.client.ID, "redirect_uri", "https://evil.example/cb", "response_type", "code", "response_mode", "x"}},
		{"bad redirect, javascript", []string{"client_id", e.client.ID, "redirect_uri", "javascript:alert(1)", "response_type", "code"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			azAssertErrorPage(t, e.browser(t).Get(t, azAuthURL(e.s.URL, tc.kv...)))
			// The same request by POST.
			form := url.Values{}
			for i := 0; i+1 < len(tc.kv); i += 2 {
				form.Add(tc.kv[i], tc.kv[i+1])
			}
			azAssertErrorPage(t, e.browser(t).Post(t, "/oauth/authorize", form))
		})
	}
}

// T4: response_type problems are redirected (the client is trusted) with
// the right error, state and iss.
func TestT4_ResponseTypeErrors(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{}) // authorization_code only
	cases := []struct {
		name, rt, code string
		fragment       bool
	}{
		{"missing", "", "invalid_request", false},
		{"unsupported", "bogus", "unsupported_response_type", false},
		{"unsupported combination", "code bogus", "unsupported_response_type", false},
		{"token for a code-only client", "token", "unauthorized_client", true},
		{"id_token for a code-only client", "id_token", "unauthorized_client", true},
		{"code id_token for a code-only client", "code id_token", "unauthorized_client", true},
		{"code token for a code-only client", "code token", "unauthorized_client", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.browser(t).Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", tc.rt,
				"scope", "openid", "nonce", "n", "state", "st-4"))
			azAssertRedirectError(t, p, azGoodRedirect, tc.code, "st-4", e.s.URL)
			if tc.fragment && (p.Location.RawQuery != "" || p.Location.Fragment == "") {
				t.Errorf("a token response type's error must be in the fragment: %s", p.Location)
			}
		})
	}
	t.Run("implicit client may use token", func(t *testing.T) {
		s := e.s
		c, _ := azNewClient(t, s, azHybridSpec())
		p := oauthflow.New(t, s.URL).Authorize(t, azAuthURL(s.URL, "client_id", c.ID, "redirect_uri", azGoodRedirect, "response_type", "token", "state", "s"),
			"admin", tolktest.AdminPassword, "allow")
		if q := azAssertClientRedirect(t, p, azGoodRedirect); q.Get("access_token") == "" {
			t.Fatalf("no access token: %v", q)
		}
	})
}

// T5: unknown parameters are ignored, scope order does not matter, and
// the request may be sent by POST.
func TestT5_LenientRequests(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	b := e.browser(t)
	code := e.codeFor(t, b, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code",
		"scope", "openid profile email", "nonce", "n", "state", "s", "extra", "foobar", "x-unknown", "1"), azGoodRedirect)
	tr := e.mustExchange(t, code, azGoodRedirect)
	if got := strings.Fields(tr.str("scope")); len(got) != 3 {
		t.Errorf("scope %q", tr.str("scope"))
	}

	// Same scopes, another order: consent already covers them.
	p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code",
		"scope", "email openid profile", "nonce", "n", "state", "s2", "extra", "foobar"))
	if q := azAssertClientRedirect(t, p, azGoodRedirect); q.Get("code") == "" || q.Get("state") != "s2" {
		t.Fatalf("reordered scopes: %v", q)
	}

	// By POST, in a fresh browser: login, consent, code.
	pb := e.browser(t)
	form := url.Values{"client_id": {e.client.ID}, "redirect_uri": {azGoodRedirect}, "response_type": {"code"},
		"scope": {"profile openid"}, "nonce": {"n-post"}, "state": {"s-post"}, "extra": {"foobar"}}
	p = pb.Post(t, "/oauth/authorize", form)
	if !azIsLoginRedirect(pb, p) {
		t.Fatalf("POST authorization request: %d %v %.300s", p.Status, p.Location, p.Body)
	}
	p = azContinueFlow(t, pb, p, "admin", tolktest.AdminPassword, "allow")
	q := azAssertClientRedirect(t, p, azGoodRedirect)
	if q.Get("code") == "" || q.Get("state") != "s-post" {
		t.Fatalf("POST flow response %v", q)
	}
	c := e.verifyIDToken(t, e.mustExchange(t, q.Get("code"), azGoodRedirect).str("id_token"))
	if c.Nonce != "n-post" {
		t.Errorf("nonce %q", c.Nonce)
	}

	// By POST while signed in with consent: straight to the client, 303.
	p = pb.Post(t, "/oauth/authorize", form)
	if q := azAssertClientRedirect(t, p, azGoodRedirect); q.Get("code") == "" {
		t.Fatalf("POST with consent: %v", q)
	}
}

// T6: parameters must not be repeated. A repeated client_id or
// redirect_uri cannot be trusted (page); others are invalid_request.
func TestT6_DuplicateParameters(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{RedirectURIs: []string{azGoodRedirect, "https://good.example/other"}})
	base := url.Values{"client_id": {e.client.ID}, "redirect_uri": {azGoodRedirect}, "response_type": {"code"}, "state": {"s6"}, "scope": {"openid"}, "nonce": {"n"}}
	with := func(k string, vs ...string) url.Values {
		v := url.Values{}
		for kk, vv := range base {
			v[kk] = append([]string(nil), vv...)
		}
		v[k] = vs
		return v
	}
	pages := []struct {
		name string
		q    url.Values
	}{
		{"client_id twice, same", with("client_id", e.client.ID, e.client.ID)},
		{"client_id twice, different", with("client_id", e.client.ID, "other")},
		{"redirect_uri twice, same", with("redirect_uri", azGoodRedirect, azGoodRedirect)},
		{"redirect_uri twice, both registered", with("redirect_uri", azGoodRedirect, "https://good.example/other")},
		{"redirect_uri twice, one evil", with("redirect_uri", azGoodRedirect, "https://evil.example/cb")},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			azAssertErrorPage(t, e.browser(t).Get(t, e.s.URL+"/oauth/authorize?"+tc.q.Encode()))
			azAssertErrorPage(t, e.signedIn(t).Post(t, "/oauth/authorize", tc.q))
		})
	}
	redirects := []struct {
		name, state string
		q           url.Values
	}{
		{"state twice", "", with("state", "a", "b")},
		{"scope twice", "s6", with("scope", "openid", "openid profile")},
		{"response_type twice", "s6", with("response_type", "code", "code")},
		{"nonce twice", "s6", with("nonce", "a", "b")},
		{"prompt twice", "s6", with("prompt", "none", "login")},
		{"code_challenge twice", "s6", with("code_challenge", strings.Repeat("a", 43), strings.Repeat("b", 43))},
	}
	for _, tc := range redirects {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []*oauthflow.Page{
				e.browser(t).Get(t, e.s.URL+"/oauth/authorize?"+tc.q.Encode()),
				e.signedIn(t).Post(t, "/oauth/authorize", tc.q),
			} {
				q := azAssertClientRedirect(t, p, azGoodRedirect)
				if q.Get("error") != "invalid_request" || q.Get("iss") != e.s.URL || q.Has("code") {
					t.Errorf("response %v, want invalid_request with iss", q)
				}
				if tc.state != "" && q.Get("state") != tc.state {
					t.Errorf("state %q, want %q", q.Get("state"), tc.state)
				}
			}
		})
	}
}

// T7: state is echoed byte for byte on success and on every error; a
// request without state gets none back.
func TestT7_StateEchoed(t *testing.T) {
	e := azNewEnv(t, azHybridSpec())
	b := e.signedIn(t)
	// Give consent once, so later requests answer at once.
	e.codeFor(t, b, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid profile"), azGoodRedirect)

	for _, state := range []string{azTrickyState, ""} {
		name := "state " + state
		if state == "" {
			name = "no state"
		}
		t.Run(name, func(t *testing.T) {
			check := func(t *testing.T, p *oauthflow.Page, wantKey string) {
				t.Helper()
				q := azAssertClientRedirect(t, p, azGoodRedirect)
				if wantKey != "" && q.Get(wantKey) == "" {
					t.Fatalf("no %s in %v", wantKey, q)
				}
				switch {
				case state == "" && q.Has("state"):
					t.Errorf("state %q returned for a request without one", q.Get("state"))
				case state != "" && q.Get("state") != state:
					t.Errorf("state %q, want %q", q.Get("state"), state)
				}
			}
			// with returns the common parameters (less the last drop
			// pairs) plus kv, in a fresh slice.
			with := func(drop int, kv ...string) []string {
				common := []string{"client_id", e.client.ID, "redirect_uri", azGoodRedirect, "state", state, "scope", "openid profile", "nonce", "n"}
				return slices.Concat(common[:len(common)-2*drop], kv)
			}
			t.Run("code", func(t *testing.T) {
				check(t, b.Get(t, azAuthURL(e.s.URL, with(0, "response_type", "code")...)), "code")
			})
			t.Run("fragment", func(t *testing.T) {
				check(t, b.Get(t, azAuthURL(e.s.URL, with(0, "response_type", "code id_token")...)), "id_token")
			})
			t.Run("invalid_request", func(t *testing.T) {
				check(t, b.Get(t, azAuthURL(e.s.URL, with(0)...)), "error")
			})
			t.Run("invalid_scope", func(t *testing.T) {
				check(t, b.Get(t, azAuthURL(e.s.URL, with(2, "response_type", "code", "scope", "nope")...)), "error")
			})
			t.Run("fragment error", func(t *testing.T) {
				check(t, b.Get(t, azAuthURL(e.s.URL, with(1, "response_type", "id_token token")...)), "error")
			})
			t.Run("login_required", func(t *testing.T) {
				check(t, e.browser(t).Get(t, azAuthURL(e.s.URL, with(0, "response_type", "code", "prompt", "none")...)), "error")
			})
			t.Run("access_denied", func(t *testing.T) {
				check(t, b.Authorize(t, azAuthURL(e.s.URL, with(0, "response_type", "code", "prompt", "consent")...), "", "", "deny"), "error")
			})
			t.Run("after login and consent", func(t *testing.T) {
				check(t, e.browser(t).Authorize(t, azAuthURL(e.s.URL, with(0, "response_type", "code", "prompt", "consent")...), "admin", tolktest.AdminPassword, "allow"), "code")
			})
		})
	}
}

// T8: iss (RFC 9207) on every authorization response, and advertised.
func TestT8_IssuerInEveryResponse(t *testing.T) {
	e := azNewEnv(t, azHybridSpec())
	b := e.signedIn(t)
	e.codeFor(t, b, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid"), azGoodRedirect)
	req := func(kv ...string) string {
		return azAuthURL(e.s.URL, append([]string{"client_id", e.client.ID, "redirect_uri", azGoodRedirect, "state", "s8"}, kv...)...)
	}
	cases := []struct {
		name     string
		p        func(t *testing.T) *oauthflow.Page
		key      string
		fragment bool
	}{
		{"code", func(t *testing.T) *oauthflow.Page { return b.Get(t, req("response_type", "code", "scope", "openid")) }, "code", false},
		{"code id_token", func(t *testing.T) *oauthflow.Page {
			return b.Get(t, req("response_type", "code id_token", "scope", "openid", "nonce", "n"))
		}, "id_token", true},
		{"code id_token token", func(t *testing.T) *oauthflow.Page {
			return b.Get(t, req("response_type", "code id_token token", "scope", "openid", "nonce", "n"))
		}, "access_token", true},
		{"token", func(t *testing.T) *oauthflow.Page { return b.Get(t, req("response_type", "token", "scope", "openid")) }, "access_token", true},
		{"invalid_request", func(t *testing.T) *oauthflow.Page { return b.Get(t, req("scope", "openid")) }, "error", false},
		{"invalid_scope", func(t *testing.T) *oauthflow.Page { return b.Get(t, req("response_type", "code", "scope", "nope")) }, "error", false},
		{"code id_token error", func(t *testing.T) *oauthflow.Page {
			return b.Get(t, req("response_type", "code id_token", "scope", "openid"))
		}, "error", true},
		{"login_required", func(t *testing.T) *oauthflow.Page {
			return e.browser(t).Get(t, req("response_type", "code", "scope", "openid", "prompt", "none"))
		}, "error", false},
		{"consent_required", func(t *testing.T) *oauthflow.Page {
			return b.Get(t, req("response_type", "code", "scope", "openid email", "prompt", "none"))
		}, "error", false},
		{"access_denied", func(t *testing.T) *oauthflow.Page {
			return b.Authorize(t, req("response_type", "code id_token", "scope", "openid", "nonce", "n", "prompt", "consent"), "", "", "deny")
		}, "error", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p(t)
			q := azAssertClientRedirect(t, p, azGoodRedirect)
			if q.Get(tc.key) == "" {
				t.Fatalf("no %s: %v", tc.key, q)
			}
			if q.Get("iss") != e.s.URL {
				t.Errorf("iss %q, want %q", q.Get("iss"), e.s.URL)
			}
			if tc.fragment && p.Location.RawQuery != "" {
				t.Errorf("fragment response with a query: %s", p.Location)
			}
		})
	}
	t.Run("form_post", func(t *testing.T) {
		p := b.Get(t, req("response_type", "code", "scope", "openid", "response_mode", "form_post"))
		if f := oauthflow.HiddenFields(p.Body); f.Get("iss") != e.s.URL || f.Get("code") == "" {
			t.Fatalf("form_post fields %v", f)
		}
	})
	t.Run("discovery", func(t *testing.T) {
		for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
			resp, body := e.s.Do(t, azMustRequest(t, http.MethodGet, e.s.URL+path))
			var md map[string]any
			if err := json.Unmarshal(body, &md); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
			if md["authorization_response_iss_parameter_supported"] != true {
				t.Errorf("%s: authorization_response_iss_parameter_supported = %v", path, md["authorization_response_iss_parameter_supported"])
			}
			if md["issuer"] != e.s.URL {
				t.Errorf("%s: issuer %v", path, md["issuer"])
			}
		}
	})
}

func azMustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// T9: an id_token from the authorization endpoint needs a nonce; the code
// flow does not; the nonce is copied into every id_token.
func TestT9_Nonce(t *testing.T) {
	e := azNewEnv(t, azHybridSpec())
	b := e.signedIn(t)
	e.codeFor(t, b, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid"), azGoodRedirect)
	for _, rt := range []string{"id_token", "id_token token", "code id_token", "code id_token token", "token id_token code"} {
		t.Run("no nonce "+rt, func(t *testing.T) {
			p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", rt, "scope", "openid", "state", "s9"))
			azAssertRedirectError(t, p, azGoodRedirect, "invalid_request", "s9", e.s.URL)
			if p.Location.RawQuery != "" {
				t.Errorf("error in the query: %s", p.Location)
			}
		})
	}
	t.Run("code flow without nonce", func(t *testing.T) {
		code := e.codeFor(t, b, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid"), azGoodRedirect)
		c := e.verifyIDToken(t, e.mustExchange(t, code, azGoodRedirect).str("id_token"))
		if c.Nonce != "" {
			t.Errorf("nonce %q in an id_token for a request without one", c.Nonce)
		}
	})
	t.Run("code flow nonce copied", func(t *testing.T) {
		code := e.codeFor(t, b, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid", "nonce", "n-code ü"), azGoodRedirect)
		if c := e.verifyIDToken(t, e.mustExchange(t, code, azGoodRedirect).str("id_token")); c.Nonce != "n-code ü" {
			t.Errorf("token endpoint id_token nonce %q", c.Nonce)
		}
	})
	for _, rt := range []string{"id_token", "id_token token", "code id_token", "code id_token token"} {
		t.Run("nonce copied "+rt, func(t *testing.T) {
			p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", rt, "scope", "openid", "nonce", "n-"+rt))
			q := azAssertClientRedirect(t, p, azGoodRedirect)
			if c := e.verifyIDToken(t, q.Get("id_token")); c.Nonce != "n-"+rt {
				t.Errorf("front-channel nonce %q", c.Nonce)
			}
			if code := q.Get("code"); code != "" {
				if c := e.verifyIDToken(t, e.mustExchange(t, code, azGoodRedirect).str("id_token")); c.Nonce != "n-"+rt {
					t.Errorf("token endpoint nonce %q", c.Nonce)
				}
			}
		})
	}
}

// T10: hybrid responses bind the code and token to the id_token, come in
// the fragment, and never in the query.
func TestT10_HybridFlow(t *testing.T) {
	e := azNewEnv(t, azHybridSpec())
	b := e.signedIn(t)
	e.codeFor(t, b, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid profile"), azGoodRedirect)
	for _, tc := range []struct {
		rt    string
		token bool
	}{{"code id_token", false}, {"code id_token token", true}} {
		t.Run(tc.rt, func(t *testing.T) {
			p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", tc.rt,
				"scope", "openid profile", "nonce", "n10", "state", "s10"))
			q := azAssertClientRedirect(t, p, azGoodRedirect)
			if p.Location.RawQuery != "" || p.Location.Fragment == "" {
				t.Fatalf("hybrid response must be in the fragment only: %s", p.Location)
			}
			code, at := q.Get("code"), q.Get("access_token")
			if code == "" || (tc.token && at == "") || (!tc.token && at != "") {
				t.Fatalf("response %v", q)
			}
			front := e.verifyIDToken(t, q.Get("id_token"))
			if front.CHash != azHalfHash(code) {
				t.Errorf("c_hash %q, want %q", front.CHash, azHalfHash(code))
			}
			if front.Nonce != "n10" {
				t.Errorf("nonce %q", front.Nonce)
			}
			if tc.token && front.AtHash != azHalfHash(at) {
				t.Errorf("at_hash %q, want %q", front.AtHash, azHalfHash(at))
			}
			if !tc.token && front.AtHash != "" {
				t.Errorf("at_hash %q without a front-channel access token", front.AtHash)
			}
			tr := e.mustExchange(t, code, azGoodRedirect)
			back := e.verifyIDToken(t, tr.str("id_token"))
			if back.Sub != front.Sub || back.Sub == "" {
				t.Errorf("sub %q at the token endpoint, %q at the front channel", back.Sub, front.Sub)
			}
			if back.Nonce != "n10" {
				t.Errorf("token endpoint nonce %q", back.Nonce)
			}
			if back.AtHash != azHalfHash(tr.str("access_token")) {
				t.Errorf("token endpoint at_hash %q", back.AtHash)
			}
		})
	}
	t.Run("code token", func(t *testing.T) {
		p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code token", "scope", "openid"))
		q := azAssertClientRedirect(t, p, azGoodRedirect)
		if p.Location.RawQuery != "" || q.Get("code") == "" || q.Get("access_token") == "" {
			t.Fatalf("code token response %s", p.Location)
		}
	})
	for _, rt := range []string{"code id_token", "code token", "code id_token token", "token", "id_token", "id_token token"} {
		t.Run("response_mode=query with "+rt, func(t *testing.T) {
			p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", rt,
				"scope", "openid", "nonce", "n", "state", "s10", "response_mode", "query"))
			azAssertRedirectError(t, p, azGoodRedirect, "invalid_request", "s10", e.s.URL)
			for _, k := range []string{"code", "access_token", "id_token"} {
				if p.Location.Query().Has(k) {
					t.Errorf("%s in the query: %s", k, p.Location)
				}
			}
		})
	}
}

// T11: prompt and max_age.
func TestT11_PromptAndMaxAge(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	req := func(kv ...string) string {
		return azAuthURL(e.s.URL, append([]string{"client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code",
			"scope", "openid", "nonce", "n11", "state", "s11"}, kv...)...)
	}
	// reauth signs in again on the login page p leads to and follows
	// tolk's redirects to the client.
	reauth := func(t *testing.T, b *oauthflow.Browser, p *oauthflow.Page) *oauthflow.Page {
		t.Helper()
		if !azIsLoginRedirect(b, p) {
			t.Fatalf("no redirect to the login page: %d %v", p.Status, p.Location)
		}
		lp := b.Get(t, p.Location.String())
		if !azIsLoginPage(lp) {
			t.Fatalf("login page not shown though a session exists: %d %v", lp.Status, lp.Location)
		}
		form := oauthflow.HiddenFields(lp.Body)
		form.Set("username", "admin")
		form.Set("password", tolktest.AdminPassword)
		r := b.Post(t, "/login", form)
		// The way back arrives after the sign-in, as with a real browser:
		// auth_time is then in the past, even for max_age=0.
		e.s.Clock.Advance(time.Second)
		for i := 0; i < 5 && r.Location != nil && b.IsTolk(r.Location); i++ {
			r = b.Get(t, r.Location.String())
		}
		return r
	}

	t.Run("prompt=none without session", func(t *testing.T) {
		b := e.browser(t)
		p := b.Get(t, req("prompt", "none"))
		azAssertRedirectError(t, p, azGoodRedirect, "login_required", "s11", e.s.URL)
	})
	t.Run("prompt=none without consent", func(t *testing.T) {
		s := e.s
		c, _ := azNewClient(t, s, authz.ClientSpec{})
		b := e.signedIn(t)
		p := b.Get(t, azAuthURL(s.URL, "client_id", c.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "state", "s", "prompt", "none"))
		azAssertRedirectError(t, p, azGoodRedirect, "consent_required", "s", s.URL)
	})

	b := e.browser(t)
	first := e.verifyIDToken(t, e.mustExchange(t, e.codeFor(t, b, req(), azGoodRedirect), azGoodRedirect).str("id_token"))
	if first.AuthTime == nil {
		t.Fatal("no auth_time")
	}

	t.Run("prompt=none with session and consent", func(t *testing.T) {
		p := b.Get(t, req("prompt", "none"))
		if q := azAssertClientRedirect(t, p, azGoodRedirect); q.Get("code") == "" || q.Get("state") != "s11" {
			t.Fatalf("prompt=none: %v", q)
		}
	})
	t.Run("prompt=login", func(t *testing.T) {
		e.s.Clock.Advance(5 * time.Second)
		r := reauth(t, b, b.Get(t, req("prompt", "login")))
		q := azAssertClientRedirect(t, r, azGoodRedirect)
		c := e.verifyIDToken(t, e.mustExchange(t, q.Get("code"), azGoodRedirect).str("id_token"))
		if c.AuthTime == nil || *c.AuthTime < *first.AuthTime+5 {
			t.Errorf("auth_time %v after prompt=login, first %d", c.AuthTime, *first.AuthTime)
		}
	})
	t.Run("prompt=login cannot be skipped", func(t *testing.T) {
		e.s.Clock.Advance(5 * time.Second)
		p := b.Get(t, req("prompt", "login"))
		if !azIsLoginRedirect(b, p) {
			t.Fatalf("prompt=login with a session: %d %v, want the login page", p.Status, p.Location)
		}
		// Back to the request without signing in: it still asks.
		next := p.Location.Query().Get("next")
		if r := b.Get(t, next); !azIsLoginRedirect(b, r) {
			t.Fatalf("the way back %s without a sign-in: %d %v, want the login page again", next, r.Status, r.Location)
		}
	})
	t.Run("max_age=0 completes after a fresh sign-in", func(t *testing.T) {
		e.s.Clock.Advance(5 * time.Second)
		signIn := e.s.Clock.Now().Unix()
		r := reauth(t, b, b.Get(t, req("max_age", "0")))
		q := azAssertClientRedirect(t, r, azGoodRedirect)
		c := e.verifyIDToken(t, e.mustExchange(t, q.Get("code"), azGoodRedirect).str("id_token"))
		if c.AuthTime == nil || *c.AuthTime != signIn {
			t.Errorf("auth_time %v after max_age=0, want the sign-in's %d", c.AuthTime, signIn)
		}
	})
	t.Run("max_age=1 with a stale session", func(t *testing.T) {
		e.s.Clock.Advance(2 * time.Second)
		before := e.s.Clock.Now().Unix()
		r := reauth(t, b, b.Get(t, req("max_age", "1")))
		q := azAssertClientRedirect(t, r, azGoodRedirect)
		c := e.verifyIDToken(t, e.mustExchange(t, q.Get("code"), azGoodRedirect).str("id_token"))
		if c.AuthTime == nil || *c.AuthTime < before {
			t.Errorf("auth_time %v, want >= %d", c.AuthTime, before)
		}
	})
	t.Run("max_age with a fresh session", func(t *testing.T) {
		p := b.Get(t, req("max_age", "10000"))
		q := azAssertClientRedirect(t, p, azGoodRedirect)
		c := e.verifyIDToken(t, e.mustExchange(t, q.Get("code"), azGoodRedirect).str("id_token"))
		if c.AuthTime == nil {
			t.Error("auth_time missing though max_age was sent")
		}
	})
	t.Run("max_age=1 with prompt=none and a stale session", func(t *testing.T) {
		e.s.Clock.Advance(2 * time.Second)
		p := b.Get(t, req("max_age", "1", "prompt", "none"))
		azAssertRedirectError(t, p, azGoodRedirect, "login_required", "s11", e.s.URL)
	})
}

// T12: every HTML page refuses to be framed.
func TestT12_NoFraming(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	b := e.browser(t)
	pages := map[string]*oauthflow.Page{}
	pages["login"] = b.Get(t, "/login")
	pages["error (bad redirect_uri)"] = b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", "https://evil.example/cb", "response_type", "code"))
	pages["error (unknown client)"] = b.Get(t, azAuthURL(e.s.URL, "client_id", "nope", "response_type", "code"))
	pages["login failed"] = b.Post(t, "/login", url.Values{"csrf_token": {oauthflow.HiddenFields(pages["login"].Body).Get("csrf_token")}, "username": {"admin"}, "password": {"wrong"}})
	pages["csrf error"] = b.Post(t, "/login", url.Values{"username": {"admin"}, "password": {"x"}})
	pages["consent"] = b.Authorize(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code"), "admin", tolktest.AdminPassword, "")
	if !azIsConsentPage(pages["consent"]) {
		t.Fatalf("no consent page: %d", pages["consent"].Status)
	}
	pages["form_post"] = b.Authorize(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "response_mode", "form_post"), "", "", "allow")
	pages["home"] = b.Get(t, "/")
	for name, p := range pages {
		t.Run(name, func(t *testing.T) {
			if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("not an HTML page: %d %q", p.Status, p.Header.Get("Content-Type"))
			}
			if got := p.Header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options %q", got)
			}
			csp := p.Header.Values("Content-Security-Policy")
			if len(csp) != 1 || !strings.Contains(csp[0], "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

// T13: CSRF on the consent and login forms.
func TestT13_CSRF(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	admin, err := e.s.Store.GetUserByUserName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	u := azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid profile", "state", "s13")
	cp := b.Authorize(t, u, "admin", tolktest.AdminPassword, "")
	if !azIsConsentPage(cp) {
		t.Fatalf("no consent page: %d %.300s", cp.Status, cp.Body)
	}
	good := oauthflow.HiddenFields(cp.Body)
	if good.Get("csrf_token") == "" {
		t.Fatal("consent form has no csrf_token")
	}
	good.Set("consent_action", "allow")
	form := func(mod func(url.Values)) url.Values {
		f := url.Values{}
		for k, v := range good {
			f[k] = append([]string(nil), v...)
		}
		if mod != nil {
			mod(f)
		}
		return f
	}
	cases := []struct {
		name    string
		form    url.Values
		headers map[string]string
	}{
		{"no csrf_token", form(func(f url.Values) { f.Del("csrf_token") }), nil},
		{"empty csrf_token", form(func(f url.Values) { f.Set("csrf_token", "") }), nil},
		{"wrong csrf_token", form(func(f url.Values) { f.Set("csrf_token", strings.Repeat("A", len(good.Get("csrf_token")))) }), nil},
		{"csrf_token prefix", form(func(f url.Values) { f.Set("csrf_token", good.Get("csrf_token")[:10]) }), nil},
		{"foreign Origin", form(nil), map[string]string{"Origin": "https://evil.example"}},
		{"null Origin", form(nil), map[string]string{"Origin": "null"}},
		{"Sec-Fetch-Site cross-site", form(nil), map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"Sec-Fetch-Site same-site", form(nil), map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"Sec-Fetch-Site cross-site without Origin", form(nil), map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": ""}},
	}
	for _, tc := range cases {
		t.Run("consent "+tc.name, func(t *testing.T) {
			p := azPostWith(t, b, "/oauth/authorize", tc.form, tc.headers)
			if p.Status != http.StatusForbidden {
				t.Errorf("status %d, want 403", p.Status)
			}
			if p.Location != nil {
				t.Errorf("redirected to %s", p.Location)
			}
			if strings.Contains(p.Body, "tolk_ac") || strings.Contains(p.Body, `name="code"`) {
				t.Errorf("a code in the body")
			}
		})
	}
	t.Run("consent without a session", func(t *testing.T) {
		p := azPostWith(t, e.browser(t), "/oauth/authorize", form(nil), nil)
		if p.Status != http.StatusForbidden || p.Location != nil {
			t.Errorf("status %d, location %v", p.Status, p.Location)
		}
	})
	t.Run("consent not saved", func(t *testing.T) {
		if _, err := e.s.Store.GetConsent(context.Background(), admin.UID, e.client.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("consent stored after forged posts: %v", err)
		}
		if p := b.Authorize(t, u, "", "", ""); !azIsConsentPage(p) {
			t.Fatalf("consent page not shown again: %d %v", p.Status, p.Location)
		}
	})
	t.Run("control: the genuine post works", func(t *testing.T) {
		p := azPostWith(t, b, "/oauth/authorize", form(nil), map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "null"})
		if q := azAssertClientRedirect(t, p, azGoodRedirect); q.Get("code") == "" {
			t.Fatalf("genuine consent: %v", q)
		}
	})

	lb := e.browser(t)
	lp := lb.Get(t, "/login")
	tok := oauthflow.HiddenFields(lp.Body).Get("csrf_token")
	if tok == "" {
		t.Fatal("login form has no csrf_token")
	}
	creds := func(tok string) url.Values {
		f := url.Values{"username": {"admin"}, "password": {tolktest.AdminPassword}}
		if tok != "" {
			f.Set("csrf_token", tok)
		}
		return f
	}
	loginCases := []struct {
		name    string
		b       *oauthflow.Browser
		form    url.Values
		headers map[string]string
	}{
		{"no csrf_token", lb, creds(""), nil},
		{"wrong csrf_token", lb, creds(strings.Repeat("x", len(tok))), nil},
		{"no csrf cookie", e.browser(t), creds(tok), nil},
		{"no csrf cookie and no csrf_token", e.browser(t), creds(""), nil},
		{"foreign Origin", lb, creds(tok), map[string]string{"Origin": "https://evil.example"}},
		{"Sec-Fetch-Site cross-site", lb, creds(tok), map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, tc := range loginCases {
		t.Run("login "+tc.name, func(t *testing.T) {
			p := azPostWith(t, tc.b, "/login", tc.form, tc.headers)
			if p.Status != http.StatusForbidden {
				t.Errorf("status %d, want 403", p.Status)
			}
			for _, c := range p.Header.Values("Set-Cookie") {
				if strings.Contains(c, "tolk_session=") {
					t.Errorf("session cookie set: %s", c)
				}
			}
		})
	}
	t.Run("login control", func(t *testing.T) {
		if p := azPostWith(t, lb, "/login", creds(tok), nil); p.Status != http.StatusSeeOther {
			t.Fatalf("genuine login: %d", p.Status)
		}
	})
}

func azCookieValue(b *oauthflow.Browser, name string) string {
	u, _ := url.Parse(b.Base)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func azSetCookie(b *oauthflow.Browser, name, value string) {
	u, _ := url.Parse(b.Base)
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// T14: a new session id on every sign-in; the old one stops working.
func TestT14_SessionFixation(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	b := e.browser(t)
	const planted = "planted-by-the-attacker-0123456789abcdefghijk"
	azSetCookie(b, "tolk_session", planted)
	b.Login(t, "admin", tolktest.AdminPassword)
	first := azCookieValue(b, "tolk_session")
	if first == "" || first == planted {
		t.Fatalf("session cookie after login %q (planted %q)", first, planted)
	}
	if p := b.Get(t, "/"); p.Status != http.StatusOK {
		t.Fatalf("home after login: %d", p.Status)
	}

	// Sign in again (as prompt=login or max_age would ask).
	lp := b.Get(t, "/login?reauth=1")
	form := oauthflow.HiddenFields(lp.Body)
	form.Set("username", "admin")
	form.Set("password", tolktest.AdminPassword)
	if p := b.Post(t, "/login", form); p.Status != http.StatusSeeOther {
		t.Fatalf("re-login: %d", p.Status)
	}
	second := azCookieValue(b, "tolk_session")
	if second == "" || second == first {
		t.Fatalf("session id not renewed on re-authentication: %q", second)
	}

	old := e.browser(t)
	azSetCookie(old, "tolk_session", first)
	if p := old.Get(t, "/"); p.Status != http.StatusSeeOther || p.Location == nil || p.Location.Path != "/login" {
		t.Errorf("the old session still works: %d %v", p.Status, p.Location)
	}
	if p := old.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "state", "s", "prompt", "none")); p.Location == nil || azRespParams(p.Location).Get("error") != "login_required" {
		t.Errorf("the old session authorizes: %d %v", p.Status, p.Location)
	}
	cur := e.browser(t)
	azSetCookie(cur, "tolk_session", second)
	if p := cur.Get(t, "/"); p.Status != http.StatusOK {
		t.Errorf("the new session does not work: %d", p.Status)
	}
}

// T15: with an https issuer, cookies are __Host- prefixed, Secure,
// HttpOnly, Path=/ and SameSite=Lax.
func TestT15_CookieAttributes(t *testing.T) {
	const iss = "https://id.example.test"
	s := tolktest.New(t, tolktest.Options{ClockStart: time.Now(), Config: func(c *config.Config) { c.Issuer = iss }})
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(req *http.Request) *http.Response {
		t.Helper()
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	check := func(t *testing.T, resp *http.Response, base string) *http.Cookie {
		t.Helper()
		var found *http.Cookie
		for _, c := range resp.Cookies() {
			if strings.TrimPrefix(c.Name, "__Host-") == base {
				found = c
			}
		}
		if found == nil {
			t.Fatalf("no %s cookie in %q", base, resp.Header.Values("Set-Cookie"))
		}
		if found.Name != "__Host-"+base {
			t.Errorf("cookie name %q, want the __Host- prefix", found.Name)
		}
		if !found.Secure || !found.HttpOnly || found.Path != "/" || found.Domain != "" || found.SameSite != http.SameSiteLaxMode {
			t.Errorf("cookie %s: Secure=%v HttpOnly=%v Path=%q Domain=%q SameSite=%v", found.Name, found.Secure, found.HttpOnly, found.Path, found.Domain, found.SameSite)
		}
		return found
	}

	resp := do(azMustRequest(t, http.MethodGet, s.URL+"/login"))
	csrf := check(t, resp, "tolk_csrf")

	form := url.Values{"csrf_token": {csrf.Value}, "username": {"admin"}, "password": {tolktest.AdminPassword}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", iss)
	req.AddCookie(&http.Cookie{Name: csrf.Name, Value: csrf.Value})
	resp = do(req)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	sess := check(t, resp, "tolk_session")
	if sess.MaxAge <= 0 {
		t.Errorf("session cookie Max-Age %d", sess.MaxAge)
	}
	for _, raw := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(raw, "tolk_session=") {
			t.Errorf("unprefixed session cookie: %s", raw)
		}
	}

	// The prefixed cookie is the one honoured.
	home := azMustRequest(t, http.MethodGet, s.URL+"/")
	home.AddCookie(&http.Cookie{Name: sess.Name, Value: sess.Value})
	if r := do(home); r.StatusCode != http.StatusOK {
		t.Errorf("home with the __Host- session: %d", r.StatusCode)
	}
	home = azMustRequest(t, http.MethodGet, s.URL+"/")
	home.AddCookie(&http.Cookie{Name: "tolk_session", Value: sess.Value})
	if r := do(home); r.StatusCode == http.StatusOK {
		t.Errorf("an unprefixed session cookie is accepted")
	}
}

// T16: no referrer from the authorization pages; tokens never in URLs
// except the fragment.
func TestT16_ReferrerAndTokenLeaks(t *testing.T) {
	e := azNewEnv(t, azHybridSpec())
	b := e.browser(t)
	u := azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid", "state", "s16")
	pages := map[string]*oauthflow.Page{}
	pages["authorize to login"] = b.Get(t, u)
	pages["login page"] = b.Get(t, pages["authorize to login"].Location.String())
	form := oauthflow.HiddenFields(pages["login page"].Body)
	form.Set("username", "admin")
	form.Set("password", tolktest.AdminPassword)
	pages["login post"] = b.Post(t, "/login", form)
	pages["consent page"] = b.Get(t, pages["login post"].Location.String())
	cf := oauthflow.HiddenFields(pages["consent page"].Body)
	cf.Set("consent_action", "allow")
	pages["consent post"] = b.Post(t, "/oauth/authorize", cf)
	pages["authorize to client"] = b.Get(t, u)
	pages["authorize error page"] = b.Get(t, azAuthURL(e.s.URL, "client_id", "nope"))
	pages["authorize error redirect"] = b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "state", "s"))
	pages["form_post"] = b.Get(t, u+"&response_mode=form_post")
	pages["implicit"] = b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "token", "scope", "openid"))
	for name, p := range pages {
		t.Run(name, func(t *testing.T) {
			if got := p.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy %q (status %d)", got, p.Status)
			}
			if strings.Contains(p.Body, "http://") && strings.Contains(p.Body, "<script src=\"http") {
				t.Errorf("third-party script")
			}
		})
	}
	for _, rt := range []string{"token", "id_token token", "id_token"} {
		t.Run("implicit "+rt+" in fragment", func(t *testing.T) {
			p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", rt, "scope", "openid", "nonce", "n"))
			q := azAssertClientRedirect(t, p, azGoodRedirect)
			if p.Location.RawQuery != "" {
				t.Errorf("query on an implicit response: %s", p.Location)
			}
			if q.Get("access_token") == "" && q.Get("id_token") == "" {
				t.Errorf("no token in the fragment: %v", q)
			}
		})
	}
	// Third-party resources: every src/href on the pages is local (a path,
	// or an anchor on the page itself such as the skip link's #main).
	ref := regexp.MustCompile(`(?:src|href)="([^"]*)"`)
	for _, name := range []string{"login page", "consent page"} {
		for _, m := range ref.FindAllStringSubmatch(pages[name].Body, -1) {
			if strings.HasPrefix(m[1], "#") {
				continue
			}
			if !strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//") {
				t.Errorf("%s loads %q", name, m[1])
			}
		}
	}
}

// T17: the login and consent posts answer with 303, never 307.
func TestT17_SeeOtherAfterPost(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	u := azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "state", "s17", "prompt", "consent")
	for _, action := range []string{"allow", "deny"} {
		t.Run(action, func(t *testing.T) {
			b := e.browser(t)
			p := b.Get(t, u)
			lp := b.Get(t, p.Location.String())
			form := oauthflow.HiddenFields(lp.Body)
			form.Set("username", "admin")
			form.Set("password", tolktest.AdminPassword)
			r := b.Post(t, "/login", form)
			if r.Status != http.StatusSeeOther {
				t.Errorf("login POST status %d, want 303", r.Status)
			}
			cp := b.Get(t, r.Location.String())
			cf := oauthflow.HiddenFields(cp.Body)
			cf.Set("consent_action", action)
			r = b.Post(t, "/oauth/authorize", cf)
			if r.Status != http.StatusSeeOther {
				t.Errorf("consent POST status %d, want 303", r.Status)
			}
			azAssertClientRedirect(t, r, azGoodRedirect)
		})
	}
	t.Run("consent POST with a fragment response", func(t *testing.T) {
		s := e.s
		c, _ := azNewClient(t, s, azHybridSpec())
		b := e.signedIn(t)
		cp := b.Get(t, azAuthURL(s.URL, "client_id", c.ID, "redirect_uri", azGoodRedirect, "response_type", "code id_token",
			"scope", "openid", "nonce", "n", "state", "s17"))
		if !azIsConsentPage(cp) {
			t.Fatalf("no consent page: %d", cp.Status)
		}
		cf := oauthflow.HiddenFields(cp.Body)
		cf.Set("consent_action", "allow")
		r := b.Post(t, "/oauth/authorize", cf)
		if r.Status != http.StatusSeeOther {
			t.Errorf("consent POST status %d, want 303", r.Status)
		}
		if q := azAssertClientRedirect(t, r, azGoodRedirect); q.Get("id_token") == "" || r.Location.RawQuery != "" {
			t.Errorf("fragment response %s", r.Location)
		}
	})
	t.Run("POST authorization request", func(t *testing.T) {
		b := e.browser(t)
		q, _ := url.ParseQuery(strings.SplitN(u, "?", 2)[1])
		if r := b.Post(t, "/oauth/authorize", q); r.Status != http.StatusSeeOther {
			t.Errorf("status %d, want 303", r.Status)
		}
	})
	t.Run("login POST without next", func(t *testing.T) {
		b := e.browser(t)
		lp := b.Get(t, "/login")
		form := oauthflow.HiddenFields(lp.Body)
		form.Set("username", "admin")
		form.Set("password", tolktest.AdminPassword)
		if r := b.Post(t, "/login", form); r.Status != http.StatusSeeOther {
			t.Errorf("status %d, want 303", r.Status)
		}
	})
}

// T18: token and userinfo responses are not cached.
func TestT18_NoStore(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	code := e.codeFor(t, e.browser(t), azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid profile"), azGoodRedirect)
	noStore := func(t *testing.T, what string, h http.Header) {
		t.Helper()
		if !strings.Contains(h.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: Cache-Control %q", what, h.Get("Cache-Control"))
		}
		if h.Get("Pragma") != "no-cache" {
			t.Errorf("%s: Pragma %q", what, h.Get("Pragma"))
		}
	}
	tr := e.mustExchange(t, code, azGoodRedirect)
	noStore(t, "token", tr.Header)
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		req := azMustRequest(t, m, e.s.URL+"/userinfo")
		req.Header.Set("Authorization", "Bearer "+tr.str("access_token"))
		resp, body := e.s.Do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("userinfo %s: %d %s", m, resp.StatusCode, body)
		}
		noStore(t, "userinfo "+m, resp.Header)
	}
	bad := e.exchange(t, code, azGoodRedirect) // replay: an error
	if bad.Status == http.StatusOK {
		t.Fatal("code replay accepted")
	}
	noStore(t, "token error", bad.Header)
}

// An admin-consent-only app: only an ADMIN may allow it.
func TestAdminConsentOnly(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{AdminConsent: true})
	ling := e.s.CreateUser(t, "linguist1", store.RoleLinguist, "linguist-password-123")
	u := azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid", "state", "sa")
	allowButton := `name="consent_action" value="allow"`

	b := e.browser(t)
	cp := b.Authorize(t, u, "linguist1", "linguist-password-123", "")
	if !azIsConsentPage(cp) {
		t.Fatalf("no consent page: %d %.300s", cp.Status, cp.Body)
	}
	if strings.Contains(cp.Body, allowButton) {
		t.Error("a non-admin sees the Allow button")
	}
	form := oauthflow.HiddenFields(cp.Body)
	form.Set("consent_action", "allow")
	p := b.Post(t, "/oauth/authorize", form)
	if p.Status != http.StatusForbidden || p.Location != nil {
		t.Errorf("forged allow by a non-admin: %d %v", p.Status, p.Location)
	}
	if _, err := e.s.Store.GetConsent(context.Background(), ling.UID, e.client.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("consent saved for a non-admin: %v", err)
	}
	form.Set("consent_action", "deny")
	azAssertRedirectError(t, b.Post(t, "/oauth/authorize", form), azGoodRedirect, "access_denied", "sa", e.s.URL)

	ab := e.browser(t)
	cp = ab.Authorize(t, u, "admin", tolktest.AdminPassword, "")
	if !strings.Contains(cp.Body, allowButton) {
		t.Fatal("the admin sees no Allow button")
	}
	if q := azAssertClientRedirect(t, ab.Authorize(t, u, "", "", "allow"), azGoodRedirect); q.Get("code") == "" {
		t.Fatalf("admin allow: %v", q)
	}
}

// Consent is remembered for the same scopes and asked again for new ones.
func TestConsentRemembered(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	b := e.browser(t)
	req := func(scope string, kv ...string) string {
		return azAuthURL(e.s.URL, append([]string{"client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", scope, "state", "sc"}, kv...)...)
	}
	if p := b.Authorize(t, req("openid profile"), "admin", tolktest.AdminPassword, ""); !azIsConsentPage(p) {
		t.Fatalf("first request: no consent page: %d", p.Status)
	}
	e.codeFor(t, b, req("openid profile"), azGoodRedirect)
	for _, scope := range []string{"openid profile", "profile openid", "openid"} {
		p := b.Get(t, req(scope))
		if q := azAssertClientRedirect(t, p, azGoodRedirect); q.Get("code") == "" {
			t.Errorf("scope %q asked again: %v", scope, q)
		}
	}
	if p := b.Get(t, req("openid profile email")); !azIsConsentPage(p) {
		t.Errorf("a new scope did not ask again: %d %v", p.Status, p.Location)
	}
	if p := b.Get(t, req("openid", "prompt", "consent")); !azIsConsentPage(p) {
		t.Errorf("prompt=consent did not ask: %d %v", p.Status, p.Location)
	}
}

// Deny sends access_denied with state and iss.
func TestConsentDeny(t *testing.T) {
	e := azNewEnv(t, authz.ClientSpec{})
	b := e.browser(t)
	p := b.Authorize(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "state", azTrickyState),
		"admin", tolktest.AdminPassword, "deny")
	azAssertRedirectError(t, p, azGoodRedirect, "access_denied", azTrickyState, e.s.URL)
	admin, _ := e.s.Store.GetUserByUserName(context.Background(), "admin")
	if _, err := e.s.Store.GetConsent(context.Background(), admin.UID, e.client.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("consent saved on deny: %v", err)
	}
}

// form_post answers with a page that posts code, state and iss to the
// redirect URI, and a CSP that lets it.
func TestFormPostResponseMode(t *testing.T) {
	e := azNewEnv(t, azHybridSpec())
	b := e.browser(t)
	u := azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code", "scope", "openid",
		"state", azTrickyState, "response_mode", "form_post")
	p := b.Authorize(t, u, "admin", tolktest.AdminPassword, "allow")
	check := func(t *testing.T, p *oauthflow.Page, keys ...string) url.Values {
		t.Helper()
		if p.Status != http.StatusOK || p.Location != nil || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("form_post: %d %v %q", p.Status, p.Location, p.Header.Get("Content-Type"))
		}
		m := regexp.MustCompile(`<form method="post" action="([^"]*)"`).FindStringSubmatch(p.Body)
		if m == nil || m[1] != azGoodRedirect {
			t.Fatalf("form action %v, want %s", m, azGoodRedirect)
		}
		f := oauthflow.HiddenFields(p.Body)
		for _, k := range keys {
			if f.Get(k) == "" {
				t.Errorf("no %s field: %v", k, f)
			}
		}
		if f.Get("state") != azTrickyState {
			t.Errorf("state %q", f.Get("state"))
		}
		if f.Get("iss") != e.s.URL {
			t.Errorf("iss %q", f.Get("iss"))
		}
		csp := p.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "form-action https://good.example") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP %q", csp)
		}
		if cc := p.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("Cache-Control %q", cc)
		}
		return f
	}
	f := check(t, p, "code")
	e.mustExchange(t, f.Get("code"), azGoodRedirect)

	t.Run("hybrid", func(t *testing.T) {
		p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code id_token",
			"scope", "openid", "nonce", "n", "state", azTrickyState, "response_mode", "form_post"))
		f := check(t, p, "code", "id_token")
		if c := e.verifyIDToken(t, f.Get("id_token")); c.CHash != azHalfHash(f.Get("code")) {
			t.Errorf("c_hash %q", c.CHash)
		}
	})
	t.Run("error", func(t *testing.T) {
		p := b.Get(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code",
			"scope", "nope", "state", azTrickyState, "response_mode", "form_post"))
		if f := check(t, p, "error"); f.Get("error") != "invalid_scope" {
			t.Errorf("error %q", f.Get("error"))
		}
	})
}
