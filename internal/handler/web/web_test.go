package web_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

const alicePassword = "alice-password-1234"

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([A-Za-z0-9]+)"`)

// browser is a cookie-keeping client that never follows redirects. It
// keeps cookies by name whatever their Secure flag, so that __Host-
// cookies can be exercised against the plain-http test server.
type browser struct {
	s       *tolktest.Server
	c       *http.Client
	cookies map[string]string
	header  http.Header // sent with every request
}

func newBrowser(s *tolktest.Server) *browser {
	c := *s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{s: s, c: &c, cookies: map[string]string{}, header: http.Header{}}
}

func (b *browser) do(t *testing.T, method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	for n, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: n, Value: v})
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 500 {
		t.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return resp, string(rb)
}

// loginForm fetches /login and returns the CSRF field, which must equal the
// double-submit cookie.
func (b *browser) loginForm(t *testing.T, cookieName string) string {
	t.Helper()
	resp, body := b.do(t, http.MethodGet, "/login", nil)
	m := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /login: %d, csrf field found %v", resp.StatusCode, m != nil)
	}
	if b.cookies[cookieName] != m[1] {
		t.Fatalf("csrf field %q does not match cookie %s=%q", m[1], cookieName, b.cookies[cookieName])
	}
	return m[1]
}

func (b *browser) signIn(t *testing.T, user, pw string) *http.Response {
	t.Helper()
	csrf := b.loginForm(t, "tolk_csrf")
	resp, body := b.do(t, http.MethodPost, "/login", url.Values{"csrf_token": {csrf}, "username": {user}, "password": {pw}})
	if resp.StatusCode != http.StatusSeeOther || b.cookies["tolk_session"] == "" {
		t.Fatalf("POST /login: %d, session cookie set %v: %s", resp.StatusCode, b.cookies["tolk_session"] != "", body)
	}
	return resp
}

// sessionCSRF returns the per-session CSRF token from the home page.
func (b *browser) sessionCSRF(t *testing.T) string {
	t.Helper()
	resp, body := b.do(t, http.MethodGet, "/", nil)
	m := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /: %d, csrf field found %v", resp.StatusCode, m != nil)
	}
	return m[1]
}

// signedInAs returns the user the home page names, or "" when / redirects.
func (b *browser) signedInAs(t *testing.T) string {
	t.Helper()
	resp, body := b.do(t, http.MethodGet, "/", nil)
	if resp.StatusCode == http.StatusSeeOther {
		if loc := resp.Header.Get("Location"); loc != "/login" {
			t.Fatalf("GET / redirects to %q, want /login", loc)
		}
		return ""
	}
	m := regexp.MustCompile(`Signed in as ([^<]+)</p>`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /: %d: %s", resp.StatusCode, body)
	}
	return m[1]
}

func setCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// labelled reports whether body has a <label for=X>text</label> whose X is
// the id of an <input>.
func labelled(body, text string) bool {
	m := regexp.MustCompile(`<label for="([^"]+)">` + regexp.QuoteMeta(text) + `</label>`).FindStringSubmatch(body)
	return m != nil && regexp.MustCompile(`<input id="`+regexp.QuoteMeta(m[1])+`"`).MatchString(body)
}

func button(body, text string) bool {
	return regexp.MustCompile(`<button type="submit"(?: class="[a-z ]+")?>` + regexp.QuoteMeta(text) + `</button>`).MatchString(body)
}

func TestLoginPageLocalized(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	for _, tc := range []struct {
		name, query, acceptLang    string
		lang, user, password, sign string
	}{
		{"default English", "", "", "en", "Username", "Password", "Sign in"},
		{"Accept-Language en", "", "en-US,en;q=0.9", "en", "Username", "Password", "Sign in"},
		{"Accept-Language de", "", "de", "de", "Benutzername", "Passwort", "Anmelden"},
		{"Accept-Language de-CH first", "", "de-CH, en;q=0.5", "de", "Benutzername", "Passwort", "Anmelden"},
		{"unknown language falls back to English", "", "sv", "en", "Username", "Password", "Sign in"},
		{"Accept-Language ja", "", "ja", "ja", "ユーザー名", "パスワード", "サインイン"},
		{"ui_locales overrides Accept-Language", "?ui_locales=de", "en", "de", "Benutzername", "Passwort", "Anmelden"},
		{"ui_locales en over German browser", "?ui_locales=en", "de", "en", "Username", "Password", "Sign in"},
		{"ui_locales list, first available wins", "?ui_locales=sv%20de%20en", "en", "de", "Benutzername", "Passwort", "Anmelden"},
		{"ui_locales French", "?ui_locales=fr%20de%20en", "en", "fr", "Nom d’utilisateur", "Mot de passe", "Se connecter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBrowser(s)
			if tc.acceptLang != "" {
				b.header.Set("Accept-Language", tc.acceptLang)
			}
			resp, body := b.do(t, http.MethodGet, "/login"+tc.query, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if !strings.Contains(body, `<html lang="`+tc.lang+`">`) {
				t.Errorf("page language is not %s", tc.lang)
			}
			if !labelled(body, tc.user) || !labelled(body, tc.password) {
				t.Errorf("no labelled %q / %q inputs:\n%s", tc.user, tc.password, body)
			}
			if !button(body, tc.sign) {
				t.Errorf("no button %q:\n%s", tc.sign, body)
			}
			if !regexp.MustCompile(`<input id="password" name="password" type="password"`).MatchString(body) {
				t.Errorf("password input is not type=password")
			}
			if m := csrfRE.FindStringSubmatch(body); m == nil || len(m[1]) < 32 {
				t.Errorf("no CSRF token field on the form")
			}
		})
	}
}

// TestLoginCSRF: a login POST without the double-submit token, or from
// another site, is refused with 403 and creates no session (T13).
func TestLoginCSRF(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	other := strings.Repeat("Z", 43)
	for _, tc := range []struct {
		name        string
		cookie      bool   // send the csrf cookie from GET /login
		field       string // "ok" = the matching token
		hdr         []string
		wantAllowed bool
	}{
		{"no field", true, "", nil, false},
		{"wrong field", true, other, nil, false},
		{"field without cookie", false, "ok", nil, false},
		{"truncated field", true, "short", nil, false},
		{"foreign Origin", true, "ok", []string{"Origin", "https://evil.example"}, false},
		{"null Origin", true, "ok", []string{"Origin", "null"}, false},
		{"Sec-Fetch-Site cross-site", true, "ok", []string{"Sec-Fetch-Site", "cross-site"}, false},
		{"Sec-Fetch-Site same-site", true, "ok", []string{"Sec-Fetch-Site", "same-site"}, false},
		{"own Origin", true, "ok", []string{"Origin", s.URL, "Sec-Fetch-Site", "same-origin"}, true},
		{"Sec-Fetch-Site none", true, "ok", []string{"Sec-Fetch-Site", "none"}, true},
		{"no Origin header", true, "ok", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBrowser(s)
			tok := b.loginForm(t, "tolk_csrf")
			if !tc.cookie {
				delete(b.cookies, "tolk_csrf")
			}
			form := url.Values{"username": {"admin"}, "password": {tolktest.AdminPassword}}
			switch tc.field {
			case "ok":
				form.Set("csrf_token", tok)
			case "short":
				form.Set("csrf_token", tok[:20])
			case "":
			default:
				form.Set("csrf_token", tc.field)
			}
			resp, body := b.do(t, http.MethodPost, "/login", form, tc.hdr...)
			if tc.wantAllowed {
				if resp.StatusCode != http.StatusSeeOther || setCookie(resp, "tolk_session") == nil {
					t.Fatalf("status %d, want 303 with a session: %s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", resp.StatusCode)
			}
			if c := setCookie(resp, "tolk_session"); c != nil {
				t.Errorf("a refused login set a session cookie")
			}
			if !strings.Contains(body, "The form expired or did not come from this site.") {
				t.Errorf("403 page without the CSRF message:\n%s", body)
			}
			if who := b.signedInAs(t); who != "" {
				t.Errorf("signed in as %q after a refused login", who)
			}
		})
	}
}

// TestLoginSuccess: 303 (never 307, T17) to /, a fresh HttpOnly, Lax,
// host-only session cookie (T15) whose lifetime follows the server's clock.
func TestLoginSuccess(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	s.Clock.Advance(3 * time.Hour) // the cookie lifetime must follow the server clock, not the wall clock
	b := newBrowser(s)
	resp := b.signIn(t, "admin", tolktest.AdminPassword)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("status %d, want 303", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Errorf("Location %q, want /", loc)
	}
	c := setCookie(resp, "tolk_session")
	if c == nil {
		t.Fatal("no tolk_session cookie")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || c.Domain != "" {
		t.Errorf("session cookie %q: want HttpOnly, SameSite=Lax, Path=/, no Domain, not Secure on http", resp.Header.Values("Set-Cookie"))
	}
	if want := int(s.Tolk.Config.SessionTTL / time.Second); c.MaxAge != want {
		t.Errorf("session cookie Max-Age %d, want %d (the session lifetime)", c.MaxAge, want)
	}
	if len(c.Value) < 43 {
		t.Errorf("session cookie value too short: %d characters", len(c.Value))
	}
	if cs := setCookie(resp, "tolk_csrf"); cs == nil || cs.MaxAge >= 0 {
		t.Errorf("the pre-login csrf cookie is not cleared on sign-in")
	}
	if who := b.signedInAs(t); who != "admin" {
		t.Errorf("home page names %q, want admin", who)
	}
	_, body := b.do(t, http.MethodGet, "/", nil)
	if !strings.Contains(body, "Signed in as admin") || !button(body, "Log out") {
		t.Errorf("home page lacks the user or the Log out button:\n%s", body)
	}
	// Signed in, /login goes home.
	resp, _ = b.do(t, http.MethodGet, "/login", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("GET /login when signed in: %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	if strings.Contains(s.Logs.String(), b.cookies["tolk_session"]) || strings.Contains(s.Logs.String(), tolktest.AdminPassword) {
		t.Errorf("logs contain the session cookie or the password")
	}
}

// TestSecureCookiesOnHTTPS: with an https issuer the cookies are
// __Host- prefixed and Secure, and an unprefixed cookie is ignored (T15).
func TestSecureCookiesOnHTTPS(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.Issuer = "https://tolk.example" }})
	b := newBrowser(s)
	resp, _ := b.do(t, http.MethodGet, "/login", nil)
	if c := setCookie(resp, "__Host-tolk_csrf"); c == nil || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		t.Fatalf("csrf cookie %q: want __Host-tolk_csrf, Secure, HttpOnly, Path=/", resp.Header.Values("Set-Cookie"))
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security %q on https", hsts)
	}
	csrf := b.loginForm(t, "__Host-tolk_csrf")
	resp, body := b.do(t, http.MethodPost, "/login", url.Values{"csrf_token": {csrf}, "username": {"admin"}, "password": {tolktest.AdminPassword}},
		"Origin", "https://tolk.example")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d: %s", resp.StatusCode, body)
	}
	c := setCookie(resp, "__Host-tolk_session")
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Fatalf("session cookie %q: want __Host-tolk_session, Secure, HttpOnly, SameSite=Lax, Path=/", resp.Header.Values("Set-Cookie"))
	}
	if setCookie(resp, "tolk_session") != nil {
		t.Errorf("an unprefixed session cookie was set too")
	}
	if who := b.signedInAs(t); who != "admin" {
		t.Fatalf("signed in as %q with the __Host- cookie", who)
	}
	// A cookie injected without the prefix (from a sibling domain or over
	// http) is not a session.
	planted := newBrowser(s)
	planted.cookies["tolk_session"] = b.cookies["__Host-tolk_session"]
	if who := planted.signedInAs(t); who != "" {
		t.Errorf("unprefixed cookie accepted as a session of %q", who)
	}
	// The issuer's origin is the only one allowed to post.
	b2 := newBrowser(s)
	csrf = b2.loginForm(t, "__Host-tolk_csrf")
	resp, _ = b2.do(t, http.MethodPost, "/login", url.Values{"csrf_token": {csrf}, "username": {"admin"}, "password": {tolktest.AdminPassword}},
		"Origin", "http://tolk.example")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login with Origin http:// on an https issuer: %d, want 403", resp.StatusCode)
	}
}

func TestNoHSTSOnHTTP(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	resp, _ := newBrowser(s).do(t, http.MethodGet, "/login", nil)
	if h := resp.Header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("Strict-Transport-Security %q on plain http", h)
	}
}

// TestSessionFixation: signing in always issues a new session id and ends
// the one the browser had (T14).
func TestSessionFixation(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	s.CreateUser(t, "alice", store.RoleLinguist, alicePassword)

	t.Run("planted unknown id", func(t *testing.T) {
		t.Parallel()
		b := newBrowser(s)
		planted := strings.Repeat("P", 43)
		b.cookies["tolk_session"] = planted
		b.signIn(t, "admin", tolktest.AdminPassword)
		if b.cookies["tolk_session"] == planted {
			t.Fatal("the planted session id was kept")
		}
	})

	t.Run("existing session is replaced", func(t *testing.T) {
		t.Parallel()
		attacker := newBrowser(s)
		attacker.signIn(t, "alice", alicePassword)
		fixed := attacker.cookies["tolk_session"]

		victim := newBrowser(s)
		victim.cookies["tolk_session"] = fixed // planted by the attacker
		csrf := newBrowser(s)                  // /login redirects a signed-in browser; fetch a form elsewhere
		tok := csrf.loginForm(t, "tolk_csrf")
		victim.cookies["tolk_csrf"] = tok
		resp, body := victim.do(t, http.MethodPost, "/login", url.Values{"csrf_token": {tok}, "username": {"admin"}, "password": {tolktest.AdminPassword}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d: %s", resp.StatusCode, body)
		}
		if victim.cookies["tolk_session"] == fixed {
			t.Fatal("session id unchanged by sign-in")
		}
		if who := victim.signedInAs(t); who != "admin" {
			t.Errorf("victim signed in as %q, want admin", who)
		}
		if who := attacker.signedInAs(t); who != "" {
			t.Errorf("the old session still works (as %q)", who)
		}
	})
}

func TestHomeRequiresSession(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	for _, tc := range []struct{ name, cookie string }{
		{"no cookie", ""},
		{"unknown cookie", strings.Repeat("a", 43)},
		{"malformed cookie", "' OR 1=1--"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBrowser(s)
			if tc.cookie != "" {
				b.cookies["tolk_session"] = tc.cookie
			}
			for _, p := range []string{"/", "/logout"} {
				resp, _ := b.do(t, http.MethodGet, p, nil)
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
					t.Errorf("GET %s: %d to %q, want 303 to /login", p, resp.StatusCode, resp.Header.Get("Location"))
				}
			}
		})
	}
}

// TestSessionExpiry: a session ends after its lifetime on the server clock.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b := newBrowser(s)
	b.signIn(t, "admin", tolktest.AdminPassword)
	s.Clock.Advance(s.Tolk.Config.SessionTTL - time.Second)
	if who := b.signedInAs(t); who != "admin" {
		t.Fatalf("session ended early")
	}
	s.Clock.Advance(time.Second)
	if who := b.signedInAs(t); who != "" {
		t.Errorf("session still valid after its lifetime")
	}
}

// TestLoginRedirectTarget: next= only ever leads to a local path.
func TestLoginRedirectTarget(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	for _, tc := range []struct{ next, want string }{
		{"", "/"},
		{"/settings", "/settings"},
		{"/settings/access-tokens?x=1", "/settings/access-tokens?x=1"},
		{"//evil.example", "/"},
		{"//evil.example/path", "/"},
		{"https://evil.example", "/"},
		{"http://evil.example/", "/"},
		{`/\evil.example`, "/"},
		{`\\evil.example`, "/"},
		{`/./\evil.example`, "/"},    // http.Redirect cleans it to /\evil.example
		{`/a/../\evil.example`, "/"}, // likewise
		{`/.//evil.example`, "/evil.example"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"/\r\nSet-Cookie: x=y", "/"},
		{"/\t/evil.example", "/"}, // browsers strip tabs: //evil.example
		{"/\n/evil.example", "/"},
		{"/\x00/evil.example", "/"},
	} {
		t.Run(url.QueryEscape(tc.next), func(t *testing.T) {
			t.Parallel()
			b := newBrowser(s)
			csrf := b.loginForm(t, "tolk_csrf")
			form := url.Values{"csrf_token": {csrf}, "username": {"admin"}, "password": {tolktest.AdminPassword}}
			if tc.next != "" {
				form.Set("next", tc.next)
			}
			resp, _ := b.do(t, http.MethodPost, "/login", form)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status %d, want 303", resp.StatusCode)
			}
			if loc := resp.Header.Get("Location"); loc != tc.want {
				t.Errorf("after sign-in: Location %q, want %q", loc, tc.want)
			}
			// The same rule for GET /login?next= when already signed in.
			resp, _ = b.do(t, http.MethodGet, "/login?next="+url.QueryEscape(tc.next), nil)
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != tc.want {
				t.Errorf("signed-in GET /login: %d Location %q, want 303 %q", resp.StatusCode, loc, tc.want)
			}
		})
	}

	t.Run("next survives the form", func(t *testing.T) {
		t.Parallel()
		b := newBrowser(s)
		_, body := b.do(t, http.MethodGet, "/login?next=%2Fsettings", nil)
		if !strings.Contains(body, `<input type="hidden" name="next" value="/settings">`) {
			t.Errorf("login form does not carry next:\n%s", body)
		}
	})
}

// TestLoginWrongCredentials: the same 401 page for a wrong password and an
// unknown user, no session, and the user name kept in the form (T35).
func TestLoginWrongCredentials(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		opts     tolktest.Options
		user, pw string
	}{
		{"wrong password", tolktest.Options{}, "admin", "wrong-password"},
		{"unknown user", tolktest.Options{}, "nobody", "wrong-password"},
		{"SQL injection", tolktest.Options{}, "admin'--", tolktest.AdminPassword},
		{"invalid UTF-8 and NUL", tolktest.Options{}, "adm\xffin\x00", tolktest.AdminPassword},
		{"postgres unknown user", tolktest.Options{Postgres: true}, "nobody", "wrong-password"},
		{"postgres SQL injection", tolktest.Options{Postgres: true}, `"; DROP TABLE users;--`, tolktest.AdminPassword},
		{"postgres invalid UTF-8 and NUL", tolktest.Options{Postgres: true}, "adm\xffin\x00", tolktest.AdminPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tolktest.New(t, tc.opts)
			b := newBrowser(s)
			csrf := b.loginForm(t, "tolk_csrf")
			resp, body := b.do(t, http.MethodPost, "/login", url.Values{"csrf_token": {csrf}, "username": {tc.user}, "password": {tc.pw}})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			if !strings.Contains(body, `<p role="alert" class="error">Wrong username or password.</p>`) {
				t.Errorf("no error message:\n%s", body)
			}
			if setCookie(resp, "tolk_session") != nil {
				t.Errorf("a failed login set a session cookie")
			}
			if strings.Contains(body, tc.pw) {
				t.Errorf("the page echoes the password")
			}
			if !labelled(body, "Username") || !button(body, "Sign in") {
				t.Errorf("the form is not shown again")
			}
			// The form is usable again with the same CSRF cookie.
			resp, _ = b.do(t, http.MethodPost, "/login", url.Values{"csrf_token": {csrf}, "username": {"admin"}, "password": {tolktest.AdminPassword}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Errorf("retry with the right password: %d, want 303", resp.StatusCode)
			}
		})
	}

	t.Run("missing fields", func(t *testing.T) {
		t.Parallel()
		s := tolktest.New(t)
		b := newBrowser(s)
		csrf := b.loginForm(t, "tolk_csrf")
		resp, body := b.do(t, http.MethodPost, "/login", url.Values{"csrf_token": {csrf}, "username": {"admin"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Enter your username and password.") {
			t.Errorf("status %d, want 400 with a message", resp.StatusCode)
		}
	})

	t.Run("throttled", func(t *testing.T) {
		t.Parallel()
		s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.LoginUserBurst = 2 }})
		b := newBrowser(s)
		csrf := b.loginForm(t, "tolk_csrf")
		for range 2 {
			b.do(t, http.MethodPost, "/login", url.Values{"csrf_token": {csrf}, "username": {"admin"}, "password": {"wrong-password"}})
		}
		resp, body := b.do(t, http.MethodPost, "/login", url.Values{"csrf_token": {csrf}, "username": {"admin"}, "password": {tolktest.AdminPassword}})
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || setCookie(resp, "tolk_session") != nil {
			t.Errorf("status %d, Retry-After %q, want 429 with Retry-After and no session", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if !strings.Contains(body, "Too many failed sign-ins.") {
			t.Errorf("no throttling message")
		}
	})
}

// TestLogout: sign-out needs the session's CSRF token (T13), then ends the
// session and clears the cookie.
func TestLogout(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b := newBrowser(s)
	b.signIn(t, "admin", tolktest.AdminPassword)
	sess := b.cookies["tolk_session"]
	tok := b.sessionCSRF(t)

	resp, body := b.do(t, http.MethodGet, "/logout", nil)
	if resp.StatusCode != http.StatusOK || !button(body, "Log out") || !strings.Contains(body, `value="`+tok+`"`) {
		t.Errorf("GET /logout: %d, want a Log out form with the session token", resp.StatusCode)
	}

	for _, tc := range []struct {
		name  string
		form  url.Values
		hdr   []string
		ctype string
	}{
		{"no token", url.Values{}, nil, ""},
		{"wrong token", url.Values{"csrf_token": {strings.Repeat("x", 43)}}, nil, ""},
		{"token prefix", url.Values{"csrf_token": {tok[:10]}}, nil, ""},
		{"foreign Origin", url.Values{"csrf_token": {tok}}, []string{"Origin", "https://evil.example"}, ""},
		{"cross-site", url.Values{"csrf_token": {tok}}, []string{"Sec-Fetch-Site", "cross-site"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := b.do(t, http.MethodPost, "/logout", tc.form, tc.hdr...)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
			if setCookie(resp, "tolk_session") != nil {
				t.Errorf("refused logout touched the session cookie")
			}
			if who := b.signedInAs(t); who != "admin" {
				t.Errorf("session ended by a refused logout")
			}
		})
	}

	resp, _ = b.do(t, http.MethodPost, "/logout", url.Values{"csrf_token": {tok}}, "Origin", s.URL)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?logged_out=1" {
		t.Fatalf("logout: %d to %q, want 303 to /login?logged_out=1", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := setCookie(resp, "tolk_session")
	if c == nil || c.MaxAge >= 0 || c.Value != "" || c.Path != "/" {
		t.Errorf("session cookie not cleared: %q", resp.Header.Values("Set-Cookie"))
	}
	if who := b.signedInAs(t); who != "" {
		t.Errorf("still signed in after logout")
	}
	old := newBrowser(s)
	old.cookies["tolk_session"] = sess
	if who := old.signedInAs(t); who != "" {
		t.Errorf("the old session cookie still works after logout")
	}
	resp, _ = old.do(t, http.MethodPost, "/logout", url.Values{"csrf_token": {tok}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("logout with an ended session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = b.do(t, http.MethodGet, "/login?logged_out=1", nil)
	if !strings.Contains(body, `<p role="status">You have been logged out.</p>`) {
		t.Errorf("no logged-out notice")
	}
}

// TestHTMLSecurityHeaders: every HTML response denies framing (T12), sends
// no referrer (T16) and is not cached (T18).
func TestHTMLSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	signedIn := newBrowser(s)
	signedIn.signIn(t, "admin", tolktest.AdminPassword)
	anon := newBrowser(s)
	for _, tc := range []struct {
		name   string
		b      *browser
		method string
		path   string
		form   url.Values
		status int
	}{
		{"login page", anon, http.MethodGet, "/login", nil, 200},
		{"home page", signedIn, http.MethodGet, "/", nil, 200},
		{"logout page", signedIn, http.MethodGet, "/logout", nil, 200},
		{"CSRF error page", anon, http.MethodPost, "/login", url.Values{"username": {"x"}}, 403},
		{"failed login page", anon, http.MethodPost, "/login", url.Values{"csrf_token": {"ok"}, "username": {"x"}, "password": {"y"}}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.form != nil && tc.form.Get("csrf_token") == "ok" {
				tc.form.Set("csrf_token", tc.b.loginForm(t, "tolk_csrf"))
			}
			resp, _ := tc.b.do(t, tc.method, tc.path, tc.form)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			h := resp.Header
			if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if v := h.Get("X-Frame-Options"); v != "DENY" {
				t.Errorf("X-Frame-Options %q", v)
			}
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if len(h.Values("Content-Security-Policy")) != 1 {
				t.Errorf("%d CSP headers, want 1", len(h.Values("Content-Security-Policy")))
			}
			if v := h.Get("Referrer-Policy"); v != "no-referrer" {
				t.Errorf("Referrer-Policy %q", v)
			}
			if v := h.Get("Cache-Control"); v != "no-store" {
				t.Errorf("Cache-Control %q", v)
			}
			if v := h.Get("X-Content-Type-Options"); v != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", v)
			}
		})
	}
}

func TestStaticCSS(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	resp, body := newBrowser(s).do(t, http.MethodGet, "/static/style.css", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || len(body) == 0 {
		t.Errorf("style.css: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", v)
	}
	resp, _ = newBrowser(s).do(t, http.MethodGet, "/static/../web.go", nil)
	if resp.StatusCode == http.StatusOK {
		t.Errorf("path traversal out of static served something")
	}
}
