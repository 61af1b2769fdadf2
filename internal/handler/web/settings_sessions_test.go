package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

const (
	uaChromeLinux  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaFirefoxMacOS = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0"
)

var revokeFormRE = regexp.MustCompile(`action="(/settings/sessions/(session|api-token|pat)/([0-9a-f]+)/revoke)"`)

// sessionsUser creates a user and signs them in twice, from two devices,
// and obtains an ApiToken (TMS login) and a personal access token through
// /v2/authorizations, as a script would.
func sessionsUser(t *testing.T, s *tolktest.Server, name string) (phone, laptop *browser, apiToken, patToken string) {
	t.Helper()
	s.CreateUser(t, name, store.RoleLinguist, alicePassword)
	phone, laptop = newBrowser(s), newBrowser(s)
	phone.header.Set("User-Agent", uaChromeLinux)
	laptop.header.Set("User-Agent", uaFirefoxMacOS)
	phone.signIn(t, name, alicePassword)
	laptop.signIn(t, name, alicePassword)
	resp, body := postJSON(t, s, "/api2/v1/auth/login", map[string]string{"userName": name, "password": alicePassword})
	var login struct{ Token string }
	if json.Unmarshal(body, &login); resp.StatusCode != http.StatusOK || login.Token == "" {
		t.Fatalf("TMS login: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v2/authorizations", bytes.NewReader([]byte(`{"note":"nightly sync"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(name, alicePassword)
	resp, body = s.Do(t, req)
	var created struct{ Token string }
	if json.Unmarshal(body, &created); resp.StatusCode != http.StatusCreated || created.Token == "" {
		t.Fatalf("POST /v2/authorizations: %d %s", resp.StatusCode, body)
	}
	return phone, laptop, login.Token, created.Token
}

// revokeForms returns the page's revoke forms by kind.
func revokeForms(body string) map[string][]string {
	forms := map[string][]string{}
	for _, m := range revokeFormRE.FindAllStringSubmatch(body, -1) {
		forms[m[2]] = append(forms[m[2]], m[1])
	}
	return forms
}

// revokeAction returns the revoke form of the session whose entry
// mentions text (a device name).
func sessionForm(t *testing.T, body, device string) string {
	t.Helper()
	for _, li := range strings.Split(body, "<li>") {
		if strings.Contains(li, device) {
			if m := revokeFormRE.FindStringSubmatch(li); m != nil && m[2] == "session" {
				return m[1]
			}
		}
	}
	t.Fatalf("no session of %q on the page:\n%s", device, body)
	return ""
}

func TestSessionsPage(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	phone, laptop, apiToken, patToken := sessionsUser(t, s, "alice")
	s.Clock.Advance(2 * time.Minute)

	resp, body := phone.do(t, http.MethodGet, "/settings/sessions", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /settings/sessions: %d", resp.StatusCode)
	}
	for _, want := range []string{"Chrome on Linux", "Firefox on macOS", "(this session)", "Web sessions", "ApiTokens",
		"Personal access tokens", "nightly sync", patToken[len(patToken)-8:], "Sign out everywhere", `href="/settings/sessions"`,
		"Signed in", "Last seen", "Address", "Last used"} {
		if !strings.Contains(body, want) {
			t.Errorf("sessions page lacks %q", want)
		}
	}
	if strings.Count(body, "(this session)") != 1 || !regexp.MustCompile(`Chrome on Linux</strong> <span class="current">`).MatchString(body) {
		t.Errorf("the phone's own session is not the one marked current")
	}
	forms := revokeForms(body)
	if len(forms["session"]) != 2 || len(forms["api-token"]) != 1 || len(forms["pat"]) != 1 {
		t.Fatalf("revoke forms = %v, want 2 sessions, 1 ApiToken, 1 PAT", forms)
	}
	csrf := phone.sessionCSRF(t)

	// Revoke the laptop's session: asked once more, nothing changes before.
	laptopForm := sessionForm(t, body, "Firefox on macOS")
	resp, body = phone.do(t, http.MethodPost, laptopForm, url.Values{"csrf_token": {csrf}})
	if resp.StatusCode != http.StatusOK || !button(body, "Confirm") || !strings.Contains(body, "Firefox on macOS") {
		t.Fatalf("first post: %d, want a confirmation naming the session with Confirm:\n%s", resp.StatusCode, body)
	}
	if laptop.signedInAs(t) != "alice" {
		t.Fatal("the laptop was signed out before Confirm")
	}
	resp, _ = phone.do(t, http.MethodPost, laptopForm, url.Values{"csrf_token": {csrf}, "confirm": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings/sessions?done=revoked" {
		t.Fatalf("confirm: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := laptop.signedInAs(t); got != "" {
		t.Errorf("the revoked laptop session still signs in as %q", got)
	}
	if phone.signedInAs(t) != "alice" {
		t.Error("revoking the laptop signed the phone out")
	}

	// The ApiToken and the PAT, each confirmed.
	for _, tc := range []struct{ kind, header, value string }{
		{"api-token", "Authorization", "ApiToken " + apiToken},
		{"pat", "Authorization", "token " + patToken},
	} {
		if st := whoAmI(t, s, tc.header, tc.value); st != http.StatusOK {
			t.Fatalf("%s before revoking: %d", tc.kind, st)
		}
		form := forms[tc.kind][0]
		if resp, body := phone.do(t, http.MethodPost, form, url.Values{"csrf_token": {csrf}}); resp.StatusCode != http.StatusOK || !button(body, "Confirm") {
			t.Fatalf("%s first post: %d", tc.kind, resp.StatusCode)
		}
		if st := whoAmI(t, s, tc.header, tc.value); st != http.StatusOK {
			t.Fatalf("%s refused before Confirm: %d", tc.kind, st)
		}
		if resp, _ := phone.do(t, http.MethodPost, form, url.Values{"csrf_token": {csrf}, "confirm": {"1"}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s confirm: %d", tc.kind, resp.StatusCode)
		}
		if st := whoAmI(t, s, tc.header, tc.value); st != http.StatusUnauthorized {
			t.Errorf("%s after revoking: %d, want 401", tc.kind, st)
		}
		// Again: gone, so not found.
		if resp, _ := phone.do(t, http.MethodPost, form, url.Values{"csrf_token": {csrf}, "confirm": {"1"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s revoked twice: %d, want 404", tc.kind, resp.StatusCode)
		}
	}
	_, body = phone.do(t, http.MethodGet, "/settings/sessions?done=revoked", nil)
	if forms := revokeForms(body); len(forms["session"]) != 1 || len(forms["api-token"]) != 0 || len(forms["pat"]) != 0 || !strings.Contains(body, "Revoked.") {
		t.Errorf("after the revocations the page lists %v", forms)
	}

	// Audit: who, whom, what; no secret.
	s.Tolk.Audit.Flush()
	evs, err := s.Tolk.Audit.Events(context.Background(), store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		seen[e.Type] = true
		for _, v := range e.Details {
			if strings.Contains(v, apiToken) || strings.Contains(v, patToken) || len(v) >= 64 {
				t.Errorf("audit event %s carries %q", e.Type, v)
			}
		}
	}
	for _, typ := range []string{audit.SessionRevoked, audit.APITokenRevoked, audit.PATDeleted} {
		if !seen[typ] {
			t.Errorf("no audit event %s", typ)
		}
	}
}

func TestSessionsSignOutEverywhere(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	phone, laptop, apiToken, patToken := sessionsUser(t, s, "alice")
	csrf := phone.sessionCSRF(t)
	resp, body := phone.do(t, http.MethodPost, "/settings/sessions/sign-out-everywhere", url.Values{"csrf_token": {csrf}})
	if resp.StatusCode != http.StatusOK || !button(body, "Confirm") || !strings.Contains(body, "Sign out everywhere?") {
		t.Fatalf("first post: %d, want the confirmation", resp.StatusCode)
	}
	if phone.signedInAs(t) != "alice" || laptop.signedInAs(t) != "alice" || whoAmI(t, s, "Authorization", "ApiToken "+apiToken) != http.StatusOK {
		t.Fatal("something ended before Confirm")
	}
	resp, _ = phone.do(t, http.MethodPost, "/settings/sessions/sign-out-everywhere", url.Values{"csrf_token": {csrf}, "confirm": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("confirm: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c := setCookie(resp, "tolk_session"); c == nil || c.MaxAge >= 0 {
		t.Error("the session cookie was not cleared")
	}
	for name, b := range map[string]*browser{"phone": phone, "laptop": laptop} {
		if got := b.signedInAs(t); got != "" {
			t.Errorf("%s still signed in as %q", name, got)
		}
	}
	if st := whoAmI(t, s, "Authorization", "ApiToken "+apiToken); st != http.StatusUnauthorized {
		t.Errorf("ApiToken after signing out everywhere: %d, want 401", st)
	}
	// Personal access tokens stay: they serve scripts.
	if st := whoAmI(t, s, "Authorization", "token "+patToken); st != http.StatusOK {
		t.Errorf("PAT after signing out everywhere: %d, want 200 (it stays)", st)
	}
	s.Tolk.Audit.Flush()
	evs, _ := s.Tolk.Audit.Events(context.Background(), store.AuditFilter{Limit: 100, Type: audit.SignedOutEverywhere})
	if len(evs) != 1 {
		t.Errorf("%d %s events, want 1", len(evs), audit.SignedOutEverywhere)
	}
}

// TestT58_SessionsOfAnotherUser: a signed-in user posts the revoke forms
// of another user's web session, ApiToken and personal access token (ids
// learnt somehow): 404 each, confirmed or not, and all keep working.
func TestT58_SessionsOfAnotherUser(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	victim, _, apiToken, patToken := sessionsUser(t, s, "alice")
	_, body := victim.do(t, http.MethodGet, "/settings/sessions", nil)
	forms := revokeForms(body)
	s.CreateUser(t, "mallory", store.RoleAdmin, alicePassword) // even an admin
	mallory := newBrowser(s)
	mallory.signIn(t, "mallory", alicePassword)
	csrf := mallory.sessionCSRF(t)
	for kind, paths := range forms {
		for _, p := range paths {
			for _, confirm := range []string{"", "1"} {
				if resp, _ := mallory.do(t, http.MethodPost, p, url.Values{"csrf_token": {csrf}, "confirm": {confirm}}); resp.StatusCode != http.StatusNotFound {
					t.Errorf("mallory revokes alice's %s (confirm=%q): %d, want 404", kind, confirm, resp.StatusCode)
				}
			}
		}
	}
	for _, p := range []string{"/settings/sessions/session/x/revoke", "/settings/sessions/bogus/" + strings.Repeat("a", 64) + "/revoke",
		"/settings/sessions/pat/%00/revoke"} {
		if resp, _ := mallory.do(t, http.MethodPost, p, url.Values{"csrf_token": {csrf}, "confirm": {"1"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", p, resp.StatusCode)
		}
	}
	if victim.signedInAs(t) != "alice" || whoAmI(t, s, "Authorization", "ApiToken "+apiToken) != http.StatusOK ||
		whoAmI(t, s, "Authorization", "token "+patToken) != http.StatusOK {
		t.Error("alice's session or tokens ended")
	}
}

// TestT59_SessionsCSRF: the revoke and sign-out-everywhere forms refuse
// a post without the session's CSRF token, with another session's, or
// from another site, even with confirm=1; nothing ends.
func TestT59_SessionsCSRF(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	phone, laptop, apiToken, _ := sessionsUser(t, s, "alice")
	_, body := phone.do(t, http.MethodGet, "/settings/sessions", nil)
	forms := revokeForms(body)
	targets := append(append(forms["session"], forms["api-token"]...), forms["pat"]...)
	targets = append(targets, "/settings/sessions/sign-out-everywhere")
	good := phone.sessionCSRF(t)
	other := laptop.sessionCSRF(t)
	for _, p := range targets {
		for _, tc := range []struct {
			name string
			form url.Values
			hdr  []string
		}{
			{"no token", url.Values{"confirm": {"1"}}, nil},
			{"another session's token", url.Values{"csrf_token": {other}, "confirm": {"1"}}, nil},
			{"cross-site", url.Values{"csrf_token": {good}, "confirm": {"1"}}, []string{"Sec-Fetch-Site", "cross-site"}},
			{"foreign origin", url.Values{"csrf_token": {good}, "confirm": {"1"}}, []string{"Origin", "https://evil.example"}},
		} {
			if resp, _ := phone.do(t, http.MethodPost, p, tc.form, tc.hdr...); resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s (%s): %d, want 403", p, tc.name, resp.StatusCode)
			}
		}
	}
	if phone.signedInAs(t) != "alice" || laptop.signedInAs(t) != "alice" || whoAmI(t, s, "Authorization", "ApiToken "+apiToken) != http.StatusOK {
		t.Error("a refused post ended something")
	}
}

// TestT60_RevokedSessionRefusedOnEveryInstance: two instances on one
// database (a SQLite file, a PostgreSQL database). A session revoked at
// one is refused at once at both; so is an ApiToken, and signing out
// everywhere at the second ends the sessions the first serves.
func TestT60_RevokedSessionRefusedOnEveryInstance(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			a := tolktest.New(t, tolktest.Options{Postgres: backend == "postgres"})
			b := tolktest.New(t, tolktest.Options{DSN: a.Tolk.Config.DB, Config: func(c *config.Config) { c.Issuer = a.Tolk.Config.Issuer }})
			phone, laptop, apiToken, _ := sessionsUser(t, a, "alice")
			// The laptop's cookie, presented at the second instance.
			laptopAtB := newBrowser(b)
			laptopAtB.cookies = laptop.cookies
			if laptopAtB.signedInAs(t) != "alice" || whoAmI(t, b, "Authorization", "ApiToken "+apiToken) != http.StatusOK {
				t.Fatal("the second instance does not know the session or the ApiToken")
			}
			// Warm /auth/verify's cache at both.
			for _, s := range []*tolktest.Server{a, b} {
				if st := verifyStatus(t, s, apiToken); st != http.StatusOK {
					t.Fatalf("/auth/verify before: %d", st)
				}
			}
			_, body := phone.do(t, http.MethodGet, "/settings/sessions", nil)
			csrf := phone.sessionCSRF(t)
			laptopForm := sessionForm(t, body, "Firefox on macOS")
			if resp, _ := phone.do(t, http.MethodPost, laptopForm, url.Values{"csrf_token": {csrf}, "confirm": {"1"}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("revoke: %d", resp.StatusCode)
			}
			if laptop.signedInAs(t) != "" || laptopAtB.signedInAs(t) != "" {
				t.Error("the revoked session is still accepted at one of the instances")
			}
			if resp, _ := phone.do(t, http.MethodPost, revokeForms(body)["api-token"][0], url.Values{"csrf_token": {csrf}, "confirm": {"1"}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("revoke ApiToken: %d", resp.StatusCode)
			}
			if whoAmI(t, a, "Authorization", "ApiToken "+apiToken) != http.StatusUnauthorized || whoAmI(t, b, "Authorization", "ApiToken "+apiToken) != http.StatusUnauthorized {
				t.Error("the revoked ApiToken is still accepted by whoAmI at one of the instances")
			}
			if st := verifyStatus(t, a, apiToken); st != http.StatusUnauthorized {
				t.Errorf("/auth/verify at the revoking instance: %d, want 401 at once (its cache emptied)", st)
			}

			// Sign out everywhere at the second instance ends the phone's
			// session, served by the first.
			phoneAtB := newBrowser(b)
			phoneAtB.cookies = map[string]string{"tolk_session": phone.cookies["tolk_session"]}
			csrfB := phoneAtB.sessionCSRF(t)
			if resp, _ := phoneAtB.do(t, http.MethodPost, "/settings/sessions/sign-out-everywhere", url.Values{"csrf_token": {csrfB}, "confirm": {"1"}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign out everywhere at b: %d", resp.StatusCode)
			}
			if phone.signedInAs(t) != "" {
				t.Error("the phone is still signed in at the first instance")
			}
		})
	}
}

// verifyStatus is /auth/verify's answer for an ApiToken.
func verifyStatus(t *testing.T, s *tolktest.Server, apiToken string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/auth/verify", nil)
	req.Header.Set("Authorization", "ApiToken "+apiToken)
	resp, _ := s.Do(t, req)
	return resp.StatusCode
}

// TestSessionsRevokeCurrent: revoking the session in use signs this
// browser out (the cookie cleared, sent to /login); the other stays.
func TestSessionsRevokeCurrent(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	phone, laptop, _, _ := sessionsUser(t, s, "alice")
	_, body := phone.do(t, http.MethodGet, "/settings/sessions", nil)
	own := sessionForm(t, body, "Chrome on Linux")
	csrf := phone.sessionCSRF(t)
	resp, body := phone.do(t, http.MethodPost, own, url.Values{"csrf_token": {csrf}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "you will be signed out") {
		t.Fatalf("confirmation of the current session: %d, want it to say so", resp.StatusCode)
	}
	resp, _ = phone.do(t, http.MethodPost, own, url.Values{"csrf_token": {csrf}, "confirm": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("revoking the current session: %d %s, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if phone.signedInAs(t) != "" || laptop.signedInAs(t) != "alice" {
		t.Error("want the phone signed out and the laptop still signed in")
	}
}
