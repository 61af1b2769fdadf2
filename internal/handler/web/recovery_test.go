package web_test

import (
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
	"github.com/tolk-project/tolk/internal/testutil/mailpit"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// Password recovery (SPEC §8): /forgot-password, /reset-password, and the
// users page's Invite, Reset password and Reset two-factor. Mails go
// through a real SMTP server (Mailpit) and the tests follow the link in
// the mail that arrived.

const rcNewPassword = "Quiet-harbor-7391-lantern"

var (
	rcLinkRE  = regexp.MustCompile(`https?://[^\s"<>]+/reset-password\?token=[A-Za-z0-9]+`)
	rcTokenRE = regexp.MustCompile(`name="token" value="([A-Za-z0-9]+)"`)
)

// rcServer is a test server that mails through a fresh Mailpit.
func rcServer(t *testing.T, pg bool, cfg func(*config.Config)) (*tolktest.Server, *mailpit.Server) {
	t.Helper()
	mp := mailpit.Start(t, mailpit.Options{})
	s := tolktest.New(t, tolktest.Options{Postgres: pg, Config: func(c *config.Config) {
		c.SMTPURL, c.SMTPFrom = mp.URL(nil), "tolk <tolk@example.com>"
		if cfg != nil {
			cfg(c)
		}
	}})
	return s, mp
}

// rcBackends runs body on SQLite and on PostgreSQL.
func rcBackends(t *testing.T, body func(t *testing.T, pg bool)) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) { body(t, pg) })
	}
}

// rcForgot asks for a reset link for name in b.
func rcForgot(t *testing.T, b *browser, name string, hdr ...string) (*http.Response, string) {
	t.Helper()
	resp, body := b.do(t, http.MethodGet, "/forgot-password", nil)
	m := csrfRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /forgot-password: %d\n%s", resp.StatusCode, body)
	}
	return b.do(t, http.MethodPost, "/forgot-password", url.Values{"csrf_token": {m[1]}, "username": {name}}, hdr...)
}

// rcOpen opens a link's page in b and returns its form (csrf_token and
// token), failing unless the page offers to set a password.
func rcOpen(t *testing.T, b *browser, link string) url.Values {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := b.do(t, http.MethodGet, u.RequestURI(), nil)
	c, tok := csrfRE.FindStringSubmatch(body), rcTokenRE.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || c == nil || tok == nil {
		t.Fatalf("GET %s: %d, form found %v\n%s", u.Path, resp.StatusCode, c != nil && tok != nil, body)
	}
	for _, want := range []string{`<label for="new_password">New password</label>`, `>Set password</button>`} {
		if !strings.Contains(body, want) {
			t.Fatalf("reset page lacks %s:\n%s", want, body)
		}
	}
	return url.Values{"csrf_token": {c[1]}, "token": {tok[1]}}
}

// rcSet sets pw through link in a fresh browser.
func rcSet(t *testing.T, s *tolktest.Server, link, pw string) (*http.Response, string) {
	t.Helper()
	b := newBrowser(s)
	f := rcOpen(t, b, link)
	f.Set("new_password", pw)
	return b.do(t, http.MethodPost, "/reset-password", f)
}

// rcMailTo waits for the n-th mail and checks it is to addr; it returns
// the link in its text part (the same as in the HTML part).
func rcMailTo(t *testing.T, mp *mailpit.Server, n int, addr, subject string) string {
	t.Helper()
	msgs := mp.Wait(t, n)
	m := msgs[n-1]
	if len(m.To) != 1 || !strings.EqualFold(m.To[0].Address, addr) || m.Subject != subject {
		t.Fatalf("mail %d: to %v, subject %q; want %s, %q", n, m.To, m.Subject, addr, subject)
	}
	link := rcLinkRE.FindString(m.Text)
	if link == "" || !strings.Contains(m.HTML, strings.ReplaceAll(link, "&", "&amp;")) {
		t.Fatalf("mail %d: no link in text, or not the same in HTML:\n%s", n, m.Text)
	}
	return link
}

func rcPasswordWorks(t *testing.T, s *tolktest.Server, user, pw string) bool {
	t.Helper()
	resp, _ := postJSON(t, s, "/api2/v1/auth/login", map[string]string{"userName": user, "password": pw})
	return resp.StatusCode == http.StatusOK
}

func rcField(t *testing.T, raw []byte, k string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	v, _ := m[k].(string)
	return v
}

// rcAudit returns the audit events of type typ about uid.
func rcAudit(t *testing.T, s *tolktest.Server, typ, uid string) []store.AuditEvent {
	t.Helper()
	s.Tolk.Audit.Flush()
	evs, err := s.Store.ListAuditEvents(context.Background(), store.AuditFilter{Type: typ, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEvent
	for _, e := range evs {
		if e.SubjectUID == uid {
			out = append(out, e)
		}
	}
	return out
}

// TestPasswordResetByMail: Forgot password? on the sign-in page, the mail
// that arrives, its link, the new password; the old one, every session
// and ApiToken end; the events are audited without the link.
func TestPasswordResetByMail(t *testing.T) {
	rcBackends(t, func(t *testing.T, pg bool) {
		s, mp := rcServer(t, pg, nil)
		alice := s.CreateUser(t, "alice", store.RoleLinguist, alicePassword)
		_, login := postJSON(t, s, "/api2/v1/auth/login", map[string]string{"userName": "alice", "password": alicePassword})
		apiToken := rcField(t, login, "token")
		web := newBrowser(s)
		web.signIn(t, "alice", alicePassword)

		b := newBrowser(s)
		_, body := b.do(t, http.MethodGet, "/login", nil)
		if !strings.Contains(body, `<a href="/forgot-password">Forgot password?</a>`) {
			t.Fatalf("sign-in page has no Forgot password? link:\n%s", body)
		}
		_, body = b.do(t, http.MethodGet, "/forgot-password", nil)
		for _, want := range []string{`<label for="username">Username or email</label>`, `>Send reset link</button>`} {
			if !strings.Contains(body, want) {
				t.Fatalf("forgot-password page lacks %s:\n%s", want, body)
			}
		}
		resp, body := rcForgot(t, b, "ALICE@example.com")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "a link to choose a new password is on its way") {
			t.Fatalf("POST /forgot-password: %d\n%s", resp.StatusCode, body)
		}
		link := rcMailTo(t, mp, 1, alice.Email, "Reset your password")
		if !strings.HasPrefix(link, s.URL+"/reset-password?token=") {
			t.Fatalf("link %q is not under the issuer %s", link, s.URL)
		}

		resp, body = rcSet(t, s, link, rcNewPassword)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?password_set=1") {
			t.Fatalf("POST /reset-password: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if rcPasswordWorks(t, s, "alice", alicePassword) || !rcPasswordWorks(t, s, "alice", rcNewPassword) {
			t.Fatal("after the reset the old password works or the new one does not")
		}
		if got := whoAmI(t, s, "Authorization", "ApiToken "+apiToken); got != http.StatusUnauthorized {
			t.Errorf("the ApiToken from before the reset: whoAmI %d, want 401", got)
		}
		if who := web.signedInAs(t); who != "" {
			t.Errorf("the web session from before the reset still signs in %q", who)
		}
		if u, _ := s.Store.GetUser(context.Background(), alice.UID); u.LastInvalidateAll.IsZero() {
			t.Error("LastInvalidateAll not set by the reset")
		}

		b.do(t, http.MethodGet, "/login?password_set=1", nil)
		for typ, n := range map[string]int{audit.PasswordResetRequested: 1, audit.PasswordReset: 1, audit.MailSent: 1} {
			if got := rcAudit(t, s, typ, alice.UID); len(got) != n {
				t.Errorf("%d %s events about alice, want %d", len(got), typ, n)
			}
		}
		token := link[strings.Index(link, "token=")+6:]
		if strings.Contains(s.Logs.String(), token) {
			t.Error("the reset token is in the server's log")
		}
		evs, _ := s.Store.ListAuditEvents(context.Background(), store.AuditFilter{Limit: 1000})
		for _, e := range evs {
			for k, v := range e.Details {
				if strings.Contains(v, token) || strings.Contains(v, "reset-password") {
					t.Errorf("audit event %s detail %s carries the link", e.Type, k)
				}
			}
		}
	})
}

// TestPasswordResetKeepsTwoFactor: after a reset a user with two-factor
// still needs the code at the next sign-in.
func TestPasswordResetKeepsTwoFactor(t *testing.T) {
	s, mp := rcServer(t, false, nil)
	u := s.CreateUser(t, "tfa", store.RoleLinguist, tfPassword)
	sec, _ := enrolThroughUI(t, s, "tfa")
	rcForgot(t, newBrowser(s), "tfa")
	if resp, body := rcSet(t, s, rcMailTo(t, mp, 1, u.Email, "Reset your password"), rcNewPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := tmsLogin(t, s, "tfa", rcNewPassword, nil); resp.StatusCode == http.StatusOK {
		t.Fatal("after a reset the new password alone signs in a user with two-factor")
	}
	step(s)
	if resp, out := tmsLogin(t, s, "tfa", rcNewPassword, ptr(totpCode(t, sec, s.Clock.Now()))); resp.StatusCode != http.StatusOK {
		t.Fatalf("new password and code: %d %v", resp.StatusCode, out)
	}
}

// TestPasswordResetPolicy: a refused password keeps the link usable and
// says why, translated.
func TestPasswordResetPolicy(t *testing.T) {
	s, mp := rcServer(t, false, nil)
	alice := s.CreateUser(t, "alice", store.RoleLinguist, alicePassword)
	rcForgot(t, newBrowser(s), "alice")
	link := rcMailTo(t, mp, 1, alice.Email, "Reset your password")
	for _, pw := range []string{"short", "alice", "alice@example.com"} {
		resp, body := rcSet(t, s, link, pw)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) || !rcTokenRE.MatchString(body) {
			t.Fatalf("password %q: %d\n%s", pw, resp.StatusCode, body)
		}
	}
	if resp, _ := rcSet(t, s, link, rcNewPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a good password after refused ones: %d", resp.StatusCode)
	}
}

// TestT52_ResetLinkSingleUse: a link works once; using it ends the user's
// other links too.
func TestT52_ResetLinkSingleUse(t *testing.T) {
	rcBackends(t, func(t *testing.T, pg bool) {
		s, mp := rcServer(t, pg, nil)
		alice := s.CreateUser(t, "alice", store.RoleLinguist, alicePassword)
		b := newBrowser(s)
		rcForgot(t, b, "alice")
		rcForgot(t, b, "alice")
		first, second := rcMailTo(t, mp, 1, alice.Email, "Reset your password"), rcMailTo(t, mp, 2, alice.Email, "Reset your password")
		// Two browsers open the same link; the second submits after the first.
		b1, b2 := newBrowser(s), newBrowser(s)
		f1, f2 := rcOpen(t, b1, first), rcOpen(t, b2, first)
		f1.Set("new_password", rcNewPassword)
		f2.Set("new_password", "Attacker-chosen-pass-99")
		if resp, _ := b1.do(t, http.MethodPost, "/reset-password", f1); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first use: %d", resp.StatusCode)
		}
		resp, body := b2.do(t, http.MethodPost, "/reset-password", f2)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "This link is invalid, has been used or has expired.") {
			t.Fatalf("second use: %d\n%s", resp.StatusCode, body)
		}
		for _, l := range []string{first, second} {
			u, _ := url.Parse(l)
			if resp, _ := newBrowser(s).do(t, http.MethodGet, u.RequestURI(), nil); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("GET a used or superseded link: %d, want 400", resp.StatusCode)
			}
		}
		if !rcPasswordWorks(t, s, "alice", rcNewPassword) || rcPasswordWorks(t, s, "alice", "Attacker-chosen-pass-99") {
			t.Fatal("the second use of a link changed the password")
		}
	})
}

// TestT53_ResetLinkExpires: a link stops working after
// password_reset_ttl; an invitation after invitation_ttl.
func TestT53_ResetLinkExpires(t *testing.T) {
	rcBackends(t, func(t *testing.T, pg bool) {
		s, mp := rcServer(t, pg, nil)
		alice := s.CreateUser(t, "alice", store.RoleLinguist, alicePassword)
		rcForgot(t, newBrowser(s), "alice")
		link := rcMailTo(t, mp, 1, alice.Email, "Reset your password")
		b := newBrowser(s)
		f := rcOpen(t, b, link) // opened in time…
		s.Clock.Advance(time.Hour)
		f.Set("new_password", rcNewPassword) // …submitted too late
		if resp, _ := b.do(t, http.MethodPost, "/reset-password", f); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("POST after the ttl: %d, want 400", resp.StatusCode)
		}
		u, _ := url.Parse(link)
		if resp, _ := newBrowser(s).do(t, http.MethodGet, u.RequestURI(), nil); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("GET after the ttl: %d, want 400", resp.StatusCode)
		}
		if !rcPasswordWorks(t, s, "alice", alicePassword) {
			t.Fatal("an expired link changed the password")
		}
		// The row goes at the next sweep.
		if _, err := s.Store.GetPasswordReset(context.Background(), hashHex(link[strings.Index(link, "token=")+6:])); err != nil {
			t.Fatalf("the expired link's row: %v", err)
		}
		if n, err := s.Store.DeleteExpired(context.Background(), store.ExpiredPasswordResets, s.Clock.Now().Add(time.Second), 100); err != nil || n != 1 {
			t.Fatalf("DeleteExpired(password_resets) = %d, %v; want 1", n, err)
		}

		// Invitations live invitation_ttl (7 days by default).
		admin := newBrowser(s)
		admin.signIn(t, "admin", tolktest.AdminPassword)
		inviteLink := rcInvite(t, admin, "ivan", "ivan@example.com", true)
		inv := rcMailTo(t, mp, 2, "ivan@example.com", "You are invited to tolk")
		if inviteLink != "" {
			t.Fatal("a mailed invitation was also shown to the admin")
		}
		s.Clock.Advance(7*24*time.Hour - time.Second)
		rcOpen(t, newBrowser(s), inv)
		s.Clock.Advance(time.Second)
		if resp, _ := rcSetRaw(t, s, inv); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("invitation after invitation_ttl: %d, want 400", resp.StatusCode)
		}
	})
}

func rcSetRaw(t *testing.T, s *tolktest.Server, link string) (*http.Response, string) {
	t.Helper()
	u, _ := url.Parse(link)
	return newBrowser(s).do(t, http.MethodGet, u.RequestURI(), nil)
}

// TestT54_ResetLinkBoundToItsUser: a link sets the password of the user
// it was made for and nobody else's, whatever the form says.
func TestT54_ResetLinkBoundToItsUser(t *testing.T) {
	rcBackends(t, func(t *testing.T, pg bool) {
		s, mp := rcServer(t, pg, nil)
		mallory := s.CreateUser(t, "mallory", store.RoleLinguist, alicePassword)
		s.CreateUser(t, "bob", store.RoleAdmin, alicePassword)
		rcForgot(t, newBrowser(s), "mallory")
		link := rcMailTo(t, mp, 1, mallory.Email, "Reset your password")
		b := newBrowser(s)
		f := rcOpen(t, b, link)
		f.Set("new_password", rcNewPassword)
		f.Set("username", "bob")
		f.Set("uid", "bob")
		if resp, _ := b.do(t, http.MethodPost, "/reset-password", f); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("reset: %d", resp.StatusCode)
		}
		if rcPasswordWorks(t, s, "bob", rcNewPassword) || !rcPasswordWorks(t, s, "bob", alicePassword) {
			t.Fatal("mallory's link changed bob's password")
		}
		if !rcPasswordWorks(t, s, "mallory", rcNewPassword) {
			t.Fatal("mallory's link did not change mallory's password")
		}
		// A deactivated user's link no longer works.
		rcForgot(t, newBrowser(s), "bob")
		bobLink := rcMailTo(t, mp, 2, "bob@example.com", "Reset your password")
		admin := s.Tolk.Identity
		adminUser, _ := s.Store.GetUserByUserName(context.Background(), "admin")
		bob, _ := s.Store.GetUserByUserName(context.Background(), "bob")
		if err := admin.SetActive(context.Background(), adminUser, bob.UID, false); err != nil {
			t.Fatal(err)
		}
		if resp, _ := rcSetRaw(t, s, bobLink); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a deactivated user's link: %d, want 400", resp.StatusCode)
		}
	})
}

// TestT55_ForgotPasswordAnswersAlike: a user name, an email, an unknown
// name and a deactivated user get the same status and the same page; only
// the real, active account gets mail.
func TestT55_ForgotPasswordAnswersAlike(t *testing.T) {
	rcBackends(t, func(t *testing.T, pg bool) {
		s, mp := rcServer(t, pg, nil)
		alice := s.CreateUser(t, "alice", store.RoleLinguist, alicePassword)
		gone := s.CreateUser(t, "gone", store.RoleLinguist, alicePassword)
		adminUser, _ := s.Store.GetUserByUserName(context.Background(), "admin")
		if err := s.Tolk.Identity.SetActive(context.Background(), adminUser, gone.UID, false); err != nil {
			t.Fatal(err)
		}
		b := newBrowser(s)
		var first string
		var firstStatus int
		for i, name := range []string{"alice", "nobody", "alice@example.com", "nobody@example.com", "gone", strings.Repeat("x", 300)} {
			resp, body := rcForgot(t, b, name)
			if i == 0 {
				first, firstStatus = body, resp.StatusCode
				continue
			}
			if resp.StatusCode != firstStatus || body != first {
				t.Errorf("POST /forgot-password for %.20q: %d, and the page differs from alice's (%d)", name, resp.StatusCode, firstStatus)
			}
			if strings.Contains(body, name) {
				t.Errorf("the answer repeats the typed name %.20q", name)
			}
		}
		msgs := mp.Wait(t, 2)
		time.Sleep(200 * time.Millisecond) // room for a wrong third mail to arrive
		msgs = mp.Messages(t)
		if len(msgs) != 2 {
			t.Fatalf("%d mails, want 2 (alice by name and by email)", len(msgs))
		}
		for _, m := range msgs {
			if m.To[0].Address != alice.Email {
				t.Errorf("mail to %s", m.To[0].Address)
			}
		}
	})
}

// TestT56_RecoveryFormsRefuseCSRF: every new form refuses a post without
// its CSRF token, with a wrong one, or from another site, and nothing
// happens.
func TestT56_RecoveryFormsRefuseCSRF(t *testing.T) {
	s, mp := rcServer(t, false, nil)
	alice := s.CreateUser(t, "alice", store.RoleLinguist, alicePassword)
	tfa := s.CreateUser(t, "tfa", store.RoleLinguist, tfPassword)
	enrolThroughUI(t, s, "tfa")

	b := newBrowser(s)
	csrf := b.loginForm(t, "tolk_csrf")
	cases := []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"no token", url.Values{"username": {"alice"}}, nil},
		{"wrong token", url.Values{"csrf_token": {strings.Repeat("A", 43)}, "username": {"alice"}}, nil},
		{"cross-site", url.Values{"csrf_token": {csrf}, "username": {"alice"}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"foreign origin", url.Values{"csrf_token": {csrf}, "username": {"alice"}}, []string{"Origin", "https://evil.example"}},
	}
	for _, c := range cases {
		if resp, _ := b.do(t, http.MethodPost, "/forgot-password", c.form, c.hdr...); resp.StatusCode != http.StatusForbidden {
			t.Errorf("/forgot-password, %s: %d, want 403", c.name, resp.StatusCode)
		}
	}
	rcForgot(t, b, "alice")
	link := rcMailTo(t, mp, 1, alice.Email, "Reset your password")
	if n := len(mp.Messages(t)); n != 1 {
		t.Fatalf("%d mails: a refused form sent mail", n)
	}
	f := rcOpen(t, b, link)
	for _, c := range cases {
		form := url.Values{"token": f["token"], "new_password": {rcNewPassword}}
		if c.form.Has("csrf_token") {
			form.Set("csrf_token", c.form.Get("csrf_token"))
		}
		if resp, _ := b.do(t, http.MethodPost, "/reset-password", form, c.hdr...); resp.StatusCode != http.StatusForbidden {
			t.Errorf("/reset-password, %s: %d, want 403", c.name, resp.StatusCode)
		}
	}
	if !rcPasswordWorks(t, s, "alice", alicePassword) {
		t.Fatal("a refused form changed the password")
	}

	admin := newBrowser(s)
	admin.signIn(t, "admin", tolktest.AdminPassword)
	good := admin.sessionCSRF(t)
	for path, form := range map[string]url.Values{
		"/settings/users/invite":                           {"username": {"eve"}, "email": {"eve@example.com"}, "role": {"ADMIN"}},
		"/settings/users/" + alice.UID + "/reset-password": {"confirm": {"1"}},
		"/settings/users/" + tfa.UID + "/reset-two-factor": {"confirm": {"1"}},
	} {
		for _, c := range []struct {
			name, token string
			hdr         []string
		}{{"no token", "", nil}, {"wrong token", strings.Repeat("B", 43), nil}, {"cross-site", good, []string{"Sec-Fetch-Site", "cross-site"}}} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if c.token != "" {
				f.Set("csrf_token", c.token)
			}
			if resp, _ := admin.do(t, http.MethodPost, path, f, c.hdr...); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s, %s: %d, want 403", path, c.name, resp.StatusCode)
			}
		}
	}
	if _, err := s.Store.GetUserByUserName(context.Background(), "eve"); err == nil {
		t.Error("a refused Invite created the user")
	}
	if tf, err := s.Store.GetTwoFactor(context.Background(), tfa.UID); err != nil || !tf.Enabled() {
		t.Error("a refused Reset two-factor removed the second factor")
	}
	if n := len(mp.Messages(t)); n != 1 {
		t.Errorf("%d mails: a refused admin form sent mail", n)
	}
}

// TestT57_ForgotPasswordRateLimits: requests count against the failed
// sign-in limits per account (its name and email alike, unknown names
// too) and per address.
func TestT57_ForgotPasswordRateLimits(t *testing.T) {
	rcBackends(t, func(t *testing.T, pg bool) {
		s, mp := rcServer(t, pg, func(c *config.Config) { c.LoginUserBurst, c.LoginIPBurst = 3, 100 })
		s.CreateUser(t, "alice", store.RoleLinguist, alicePassword)
		s.CreateUser(t, "bob", store.RoleLinguist, alicePassword)
		b := newBrowser(s)
		for i, name := range []string{"alice", "ALICE", "alice@example.com"} {
			if resp, _ := rcForgot(t, b, name); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d: %d", i+1, resp.StatusCode)
			}
		}
		resp, body := rcForgot(t, b, "alice@example.com")
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many attempts") {
			t.Fatalf("fourth request for alice: %d (Retry-After %q)", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		// The sign-in shares the budget: alice's password is now throttled too.
		if resp, _ := postJSON(t, s, "/api2/v1/auth/login", map[string]string{"userName": "alice", "password": alicePassword}); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("TMS login after spent reset requests: %d, want 429", resp.StatusCode)
		}
		// An unknown name is limited exactly alike.
		for range 3 {
			rcForgot(t, b, "nobody")
		}
		if resp, _ := rcForgot(t, b, "nobody"); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("fourth request for an unknown name: %d, want 429", resp.StatusCode)
		}
		if resp, _ := rcForgot(t, b, "bob"); resp.StatusCode != http.StatusOK {
			t.Errorf("another account: %d, want 200", resp.StatusCode)
		}
		mp.Wait(t, 4) // alice three times, bob once

		// Per address: the address's budget runs out whatever the names.
		s2, _ := rcServer(t, pg, func(c *config.Config) { c.LoginUserBurst, c.LoginIPBurst = 100, 3 })
		b2 := newBrowser(s2)
		for i := range 3 {
			if resp, _ := rcForgot(t, b2, "name"+string(rune('a'+i))); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d from one address: %d", i+1, resp.StatusCode)
			}
		}
		if resp, _ := rcForgot(t, b2, "named"); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("fourth request from one address: %d, want 429", resp.StatusCode)
		}
	})
}

// rcInvite posts the users page's Invite form and returns the one-time
// link it shows ("" when it was mailed).
func rcInvite(t *testing.T, admin *browser, name, email string, mailed bool) string {
	t.Helper()
	resp, body := admin.do(t, http.MethodPost, "/settings/users/invite", url.Values{"csrf_token": {admin.sessionCSRF(t)},
		"username": {name}, "email": {email}, "role": {"PROJECT_MANAGER"}})
	if mailed {
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("Invite: %d\n%s", resp.StatusCode, body)
		}
		return ""
	}
	// Post/redirect/get: the link is on the page the post leads to.
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings/users?done=link" {
		t.Fatalf("Invite: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, body = admin.do(t, http.MethodGet, "/settings/users?done=link", nil)
	return rcLinkRE.FindString(body)
}

// TestInvitationWithoutMail: without smtp_url the admin sees the link
// once; the invited user sets a password through it and signs in.
func TestInvitationWithoutMail(t *testing.T) {
	rcBackends(t, func(t *testing.T, pg bool) {
		s := tolktest.New(t, tolktest.Options{Postgres: pg})
		admin := newBrowser(s)
		admin.signIn(t, "admin", tolktest.AdminPassword)
		_, page := admin.do(t, http.MethodGet, "/settings/users", nil)
		if !strings.Contains(page, `>Invite</button>`) {
			t.Fatalf("users page has no Invite:\n%s", page)
		}
		link := rcInvite(t, admin, "ivan", "ivan@example.com", false)
		if link == "" {
			t.Fatal("no link shown to the admin")
		}
		if _, again := admin.do(t, http.MethodGet, "/settings/users", nil); strings.Contains(again, "token=") {
			t.Fatal("the link is shown again")
		}
		ivan, err := s.Store.GetUserByUserName(context.Background(), "ivan")
		if err != nil || ivan.Role != store.RoleProjectManager || !ivan.Active {
			t.Fatalf("invited user: %+v, %v", ivan, err)
		}
		if resp, body := rcSet(t, s, link, rcNewPassword); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("set password: %d\n%s", resp.StatusCode, body)
		}
		newBrowser(s).signIn(t, "ivan", rcNewPassword)
		if got := rcAudit(t, s, audit.UserInvited, ivan.UID); len(got) != 1 || got[0].Details["mailed"] != "false" {
			t.Errorf("user.invited events: %+v", got)
		}
		// Reset password with no mail: a one-time link for the admin.
		resp, body := admin.do(t, http.MethodPost, "/settings/users/"+ivan.UID+"/reset-password", url.Values{"csrf_token": {admin.sessionCSRF(t)}, "confirm": {"1"}})
		if resp.StatusCode == http.StatusSeeOther {
			resp, body = admin.do(t, http.MethodGet, resp.Header.Get("Location"), nil)
		}
		reset := rcLinkRE.FindString(body)
		if resp.StatusCode != http.StatusOK || reset == "" {
			t.Fatalf("Reset password: %d\n%s", resp.StatusCode, body)
		}
		if resp, _ := rcSet(t, s, reset, "Another-fine-pass-4242"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("admin reset link: %d", resp.StatusCode)
		}
		if !rcPasswordWorks(t, s, "ivan", "Another-fine-pass-4242") {
			t.Fatal("the admin's reset link did not set the password")
		}
	})
}

// TestAdminResetsByMail: Invite, Reset password by mail, and Reset
// two-factor on the users page.
func TestAdminResetsByMail(t *testing.T) {
	s, mp := rcServer(t, false, nil)
	tfa := s.CreateUser(t, "tfa", store.RoleLinguist, tfPassword)
	enrolThroughUI(t, s, "tfa")
	admin := newBrowser(s)
	admin.signIn(t, "admin", tolktest.AdminPassword)

	rcInvite(t, admin, "ivan", "ivan@example.com", true)
	inv := rcMailTo(t, mp, 1, "ivan@example.com", "You are invited to tolk")
	if resp, _ := rcSet(t, s, inv, rcNewPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("invitation: %d", resp.StatusCode)
	}

	resp, body := admin.do(t, http.MethodPost, "/settings/users/"+tfa.UID+"/reset-password", url.Values{"csrf_token": {admin.sessionCSRF(t)}, "confirm": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || strings.Contains(body, "token=") {
		t.Fatalf("Reset password with mail: %d\n%s", resp.StatusCode, body)
	}
	reset := rcMailTo(t, mp, 2, tfa.Email, "Choose a new password")

	_, page := admin.do(t, http.MethodGet, "/settings/users", nil)
	for _, want := range []string{`href="/settings/users/` + tfa.UID + `/reset-password" aria-describedby="user-` + tfa.UID + `">Reset password</a>`, `href="/settings/users/` + tfa.UID + `/reset-two-factor" aria-describedby="user-` + tfa.UID + `">Reset two-factor</a>`} {
		if !strings.Contains(page, want) {
			t.Fatalf("users page lacks %s", want)
		}
	}
	resp, _ = admin.do(t, http.MethodPost, "/settings/users/"+tfa.UID+"/reset-two-factor", url.Values{"csrf_token": {admin.sessionCSRF(t)}, "confirm": {"1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Reset two-factor: %d", resp.StatusCode)
	}
	if resp, _ := rcSet(t, s, reset, "Another-fine-pass-4242"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the mailed admin reset link: %d", resp.StatusCode)
	}
	if resp, out := tmsLogin(t, s, "tfa", "Another-fine-pass-4242", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("after Reset two-factor and the reset link, the password alone: %d %v", resp.StatusCode, out)
	}
	if resp, _ := admin.do(t, http.MethodPost, "/settings/users/"+tfa.UID+"/reset-two-factor", url.Values{"csrf_token": {admin.sessionCSRF(t)}, "confirm": {"1"}}); resp.StatusCode != http.StatusConflict {
		t.Errorf("Reset two-factor without one: %d, want 409", resp.StatusCode)
	}
	for _, typ := range []string{audit.PasswordResetLinked, audit.TwoFactorReset} {
		if got := rcAudit(t, s, typ, tfa.UID); len(got) != 1 || got[0].ActorUID == "" {
			t.Errorf("%s events: %+v", typ, got)
		}
	}
	// A non-admin cannot use the admin actions.
	s.CreateUser(t, "lin", store.RoleLinguist, alicePassword)
	lin := newBrowser(s)
	lin.signIn(t, "lin", alicePassword)
	if resp, _ := lin.do(t, http.MethodPost, "/settings/users/"+tfa.UID+"/reset-password", url.Values{"csrf_token": {lin.sessionCSRF(t)}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a linguist's Reset password: %d, want 403", resp.StatusCode)
	}
}
