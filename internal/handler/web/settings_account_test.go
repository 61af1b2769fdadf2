package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

const (
	oldPassword = "old-password-lemur-1234"
	newPassword = "new-password-okapi-5678"
)

// tmsWhoAmI reports the status of whoAmI with an ApiToken.
func tmsWhoAmI(t *testing.T, s *tolktest.Server, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/api2/v1/auth/whoAmI", nil)
	req.Header.Set("Authorization", "ApiToken "+token)
	resp, _ := s.Do(t, req)
	return resp.StatusCode
}

// auditTypes returns the types of the events recorded about uid.
func auditTypes(t *testing.T, s *tolktest.Server, uid string) []string {
	t.Helper()
	s.Tolk.Audit.Flush()
	evs, err := s.Store.ListAuditEvents(context.Background(), store.AuditFilter{UserUID: uid, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestChangePassword_EndsOtherSessionsAndTokens: on both backends,
// changing the password through /settings/password keeps this session,
// ends the user's other web sessions and every ApiToken, sets TMS's
// lastInvalidateAllSessionsPerformed, and only the new password signs in
// afterwards.
func TestChangePassword_EndsOtherSessionsAndTokens(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			s := tolktest.New(t, tolktest.Options{Postgres: pg})
			u := s.CreateUser(t, "petra", store.RoleLinguist, oldPassword)
			other := s.CreateUser(t, "otto", store.RoleLinguist, oldPassword)
			here, there, otherB := oauthflow.New(t, s.URL), oauthflow.New(t, s.URL), oauthflow.New(t, s.URL)
			here.Login(t, "petra", oldPassword)
			there.Login(t, "petra", oldPassword)
			otherB.Login(t, "otto", oldPassword)
			_, login := tmsLogin(t, s, "petra", oldPassword, nil)
			token, _ := login["token"].(string)
			_, otherLogin := tmsLogin(t, s, "otto", oldPassword, nil)
			otherToken, _ := otherLogin["token"].(string)
			if login["lastInvalidateAllSessionsPerformed"] != nil {
				t.Fatalf("lastInvalidateAllSessionsPerformed before any change = %v", login["lastInvalidateAllSessionsPerformed"])
			}

			p := here.Get(t, "/settings/password")
			for _, want := range []string{
				`<label for="current_password">Current password</label>`,
				`<label for="new_password">New password</label>`,
				`>Change password</button>`,
				`<a href="/settings/password" aria-current="page">Change password</a>`,
				`minlength="12"`,
			} {
				if !strings.Contains(p.Body, want) {
					t.Errorf("password page lacks %s", want)
				}
			}
			form := oauthflow.HiddenFields(p.Body)
			form.Set("current_password", oldPassword)
			form.Set("new_password", newPassword)
			r := here.Post(t, "/settings/password", form)
			if r.Status != http.StatusSeeOther || r.Location.Path != "/settings/password" {
				t.Fatalf("change: %d %v\n%s", r.Status, r.Location, r.Body)
			}
			if done := here.Get(t, r.Location.String()); done.Status != http.StatusOK || !strings.Contains(done.Body, "Your password has been changed.") {
				t.Fatalf("this session after the change: %d\n%s", done.Status, done.Body)
			}
			if g := there.Get(t, "/settings/password"); g.Status != http.StatusSeeOther {
				t.Errorf("the other session after the change: %d, want a redirect to /login", g.Status)
			}
			if st := tmsWhoAmI(t, s, token); st != http.StatusUnauthorized {
				t.Errorf("ApiToken after the change: %d, want 401", st)
			}
			// Another user's session and token are untouched.
			if g := otherB.Get(t, "/settings/password"); g.Status != http.StatusOK {
				t.Errorf("another user's session: %d", g.Status)
			}
			if st := tmsWhoAmI(t, s, otherToken); st != http.StatusOK {
				t.Errorf("another user's ApiToken: %d", st)
			}
			if resp, _ := tmsLogin(t, s, "petra", oldPassword, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("TMS login with the old password: %d, want 401", resp.StatusCode)
			}
			resp, body := tmsLogin(t, s, "petra", newPassword, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("TMS login with the new password: %d %v", resp.StatusCode, body)
			}
			last, _ := body["lastInvalidateAllSessionsPerformed"].(string)
			if _, err := time.Parse("2006-01-02T15:04:05-0700", last); err != nil {
				t.Errorf("lastInvalidateAllSessionsPerformed = %v, want the time in the format of expires", body["lastInvalidateAllSessionsPerformed"])
			}
			if types := auditTypes(t, s, u.UID); !has(types, audit.PasswordChanged) {
				t.Errorf("audit events of petra = %v, want %s", types, audit.PasswordChanged)
			}
			_ = other
		})
	}
}

// TestT48_AccountFormsRefuseCSRF: the password, profile and recovery-code
// forms need the session's CSRF token and our origin; without them
// nothing changes.
func TestT48_AccountFormsRefuseCSRF(t *testing.T) {
	s := tolktest.New(t)
	u := s.CreateUser(t, "carla", store.RoleLinguist, tfPassword)
	_, codes := enrolThroughUI(t, s, "carla")
	b := oauthflow.New(t, s.URL)
	step(s)
	lp := b.Get(t, "/login")
	form := oauthflow.HiddenFields(lp.Body)
	form.Set("username", "carla")
	form.Set("password", tfPassword)
	p := b.Post(t, "/login", form)
	f2 := oauthflow.HiddenFields(p.Body)
	f2.Set("code", codes[0])
	if r := b.Post(t, "/login/two-factor", f2); r.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.Status)
	}
	csrf := oauthflow.HiddenFields(b.Get(t, "/settings/profile").Body).Get("csrf_token")
	posts := []struct {
		path string
		form url.Values
	}{
		{"/settings/password", url.Values{"current_password": {tfPassword}, "new_password": {newPassword}}},
		{"/settings/profile", url.Values{"first_name": {"Mallory"}, "last_name": {"X"}, "email": {"mallory@evil.example"}, "language": {"de"}, "current_password": {tfPassword}}},
		{"/settings/two-factor/recovery-codes", url.Values{"password": {tfPassword}}},
	}
	for _, c := range posts {
		for _, attack := range []struct {
			name   string
			token  string
			origin string
		}{
			{"no token", "", s.URL},
			{"wrong token", strings.Repeat("A", 43), s.URL},
			{"foreign origin", csrf, "https://evil.example"},
		} {
			f := url.Values{}
			for k, v := range c.form {
				f[k] = v
			}
			if attack.token != "" {
				f.Set("csrf_token", attack.token)
			}
			req, _ := http.NewRequest(http.MethodPost, s.URL+c.path, strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", attack.origin)
			resp, err := b.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s: %d, want 403", c.path, attack.name, resp.StatusCode)
			}
		}
	}
	got, err := s.Store.GetUser(context.Background(), u.UID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != u.Email || got.FirstName != u.FirstName || got.Language != "" || got.PasswordHash != u.PasswordHash {
		t.Errorf("the account changed after refused posts: %+v", got)
	}
	if n, _ := s.Store.CountRecoveryCodes(context.Background(), u.UID); n != 9 {
		t.Errorf("recovery codes after refused regeneration = %d, want the 9 left", n)
	}
}

// TestT49_StolenSessionNeedsCurrentPassword: someone with the session
// cookie alone cannot change the password or the email: a missing or
// wrong current password changes nothing, each wrong one counts toward
// the account's failure limit (shared with sign-in), and once it is spent
// even the right password waits.
func TestT49_StolenSessionNeedsCurrentPassword(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			const burst = 3
			s := tolktest.New(t, tolktest.Options{Postgres: pg, Config: func(c *config.Config) { c.LoginUserBurst = burst }})
			u := s.CreateUser(t, "vic", store.RoleLinguist, oldPassword)
			thief := oauthflow.New(t, s.URL)
			thief.Login(t, "vic", oldPassword)
			csrf := oauthflow.HiddenFields(thief.Get(t, "/settings/password").Body).Get("csrf_token")
			cases := []struct {
				path   string
				form   url.Values
				status int
				msg    string
			}{
				{"/settings/profile", url.Values{"csrf_token": {csrf}, "email": {"thief@evil.example"}}, http.StatusBadRequest, "Enter your current password to change your email address."},
				{"/settings/password", url.Values{"csrf_token": {csrf}, "current_password": {"guess-one-guess-one"}, "new_password": {newPassword}}, http.StatusUnauthorized, "The current password is not correct."},
				{"/settings/profile", url.Values{"csrf_token": {csrf}, "email": {"thief@evil.example"}, "current_password": {"guess-two-guess-two"}}, http.StatusUnauthorized, "The current password is not correct."},
				{"/settings/password", url.Values{"csrf_token": {csrf}, "current_password": {"guess-three-guess"}, "new_password": {newPassword}}, http.StatusUnauthorized, "The current password is not correct."},
				// Three wrong guesses spent the account's budget.
				{"/settings/password", url.Values{"csrf_token": {csrf}, "current_password": {oldPassword}, "new_password": {newPassword}}, http.StatusTooManyRequests, ""},
			}
			for i, c := range cases {
				r := thief.Post(t, c.path, c.form)
				if r.Status != c.status || !strings.Contains(r.Body, c.msg) {
					t.Fatalf("case %d %s: %d, want %d with %q\n%s", i, c.path, r.Status, c.status, c.msg, r.Body)
				}
			}
			if resp, _ := tmsLogin(t, s, "vic", oldPassword, nil); resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("TMS login after three wrong current passwords: %d, want 429 (one budget per account)", resp.StatusCode)
			}
			got, err := s.Store.GetUser(context.Background(), u.UID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Email != u.Email || got.PasswordHash != u.PasswordHash {
				t.Fatalf("a stolen session changed the account: email %q", got.Email)
			}
			s.Clock.Advance(time.Hour)
			if resp, _ := tmsLogin(t, s, "vic", oldPassword, nil); resp.StatusCode != http.StatusOK {
				t.Errorf("the old password after the limit refilled: %d", resp.StatusCode)
			}
			// Names and language need no password.
			r := thief.Post(t, "/settings/profile", url.Values{"csrf_token": {csrf}, "first_name": {"Vic"}, "last_name": {"Tor"}, "email": {u.Email}, "language": {"de"}})
			if r.Status != http.StatusSeeOther {
				t.Fatalf("names and language: %d\n%s", r.Status, r.Body)
			}
			// With the current password the email changes.
			r = thief.Post(t, "/settings/profile", url.Values{"csrf_token": {csrf}, "first_name": {"Vic"}, "last_name": {"Tor"}, "email": {"vic@new.example"}, "language": {"de"}, "current_password": {oldPassword}})
			if r.Status != http.StatusSeeOther {
				t.Fatalf("email with the current password: %d\n%s", r.Status, r.Body)
			}
			got, _ = s.Store.GetUser(context.Background(), u.UID)
			if got.Email != "vic@new.example" || got.FirstName != "Vic" || got.Language != "de" {
				t.Errorf("profile after saving = %+v", got)
			}
			if types := auditTypes(t, s, u.UID); !has(types, audit.ProfileUpdated) {
				t.Errorf("audit events = %v, want %s", types, audit.ProfileUpdated)
			}
		})
	}
}

// TestT50_PasswordPolicyTranslated: a new password the policy refuses
// changes nothing and is explained in the page's language.
func TestT50_PasswordPolicyTranslated(t *testing.T) {
	s := tolktest.New(t)
	u := s.CreateUser(t, "gerd", store.RoleLinguist, oldPassword)
	b := oauthflow.New(t, s.URL)
	b.Login(t, "gerd", oldPassword)
	csrf := oauthflow.HiddenFields(b.Get(t, "/settings/password").Body).Get("csrf_token")
	cases := []struct{ proposed, en, de string }{
		{"short", "The password must have at least 12 characters.", "Das Passwort muss mindestens 12 Zeichen haben."},
		{oldPassword, "The new password must differ from the current password.", "Das neue Passwort muss sich vom aktuellen Passwort unterscheiden."},
		{"Password1234", "This password is one of the most common passwords.", "Dieses Passwort gehört zu den häufigsten Passwörtern."},
	}
	for _, c := range cases {
		for _, lang := range []string{"en", "de"} {
			form := url.Values{"csrf_token": {csrf}, "current_password": {oldPassword}, "new_password": {c.proposed}}
			r := b.Post(t, "/settings/password?ui_locales="+lang, form)
			want := c.en
			if lang == "de" {
				want = c.de
			}
			if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, want) {
				t.Errorf("%q in %s: %d, want 400 with %q\n%s", c.proposed, lang, r.Status, want, r.Body)
			}
		}
	}
	got, _ := s.Store.GetUser(context.Background(), u.UID)
	if got.PasswordHash != u.PasswordHash {
		t.Error("a refused password was set")
	}
	if resp, _ := tmsLogin(t, s, "gerd", oldPassword, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("old password after refused changes: %d (policy refusals must not spend the failure budget)", resp.StatusCode)
	}
}

// TestT51_RegenerateRecoveryCodes: new recovery codes need the current
// password; they replace every old code, used or not, and are shown once.
func TestT51_RegenerateRecoveryCodes(t *testing.T) {
	s := tolktest.New(t)
	u := s.CreateUser(t, "rita", store.RoleLinguist, tfPassword)
	_, old := enrolThroughUI(t, s, "rita")
	b := oauthflow.New(t, s.URL)
	lp := b.Get(t, "/login")
	form := oauthflow.HiddenFields(lp.Body)
	form.Set("username", "rita")
	form.Set("password", tfPassword)
	p := b.Post(t, "/login", form)
	f2 := oauthflow.HiddenFields(p.Body)
	f2.Set("code", old[0])
	if r := b.Post(t, "/login/two-factor", f2); r.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.Status)
	}
	page := b.Get(t, "/settings/two-factor")
	for _, want := range []string{`<label for="regenerate-password">Current password</label>`, `>Regenerate recovery codes</button>`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("two-factor page lacks %s", want)
		}
	}
	csrf := oauthflow.HiddenFields(page.Body).Get("csrf_token")
	if r := b.Post(t, "/settings/two-factor/recovery-codes", url.Values{"csrf_token": {csrf}, "password": {"not the password"}}); r.Status != http.StatusUnauthorized || recoveryRE.MatchString(r.Body) {
		t.Fatalf("wrong password: %d", r.Status)
	}
	r := b.Post(t, "/settings/two-factor/recovery-codes", url.Values{"csrf_token": {csrf}, "password": {tfPassword}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("regenerate: %d, want 303 (post/redirect/get)", r.Status)
	}
	r = b.Get(t, r.Location.RequestURI())
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("regenerate: %d %q", r.Status, r.Header.Get("Cache-Control"))
	}
	var fresh []string
	for _, m := range recoveryRE.FindAllStringSubmatch(r.Body, -1) {
		fresh = append(fresh, m[1])
	}
	if len(fresh) != 10 {
		t.Fatalf("%d new codes shown, want 10", len(fresh))
	}
	if again := b.Get(t, "/settings/two-factor"); strings.Contains(again.Body, fresh[0]) || !strings.Contains(again.Body, "10") {
		t.Error("the settings page shows a new code again, or does not count 10")
	}
	for _, c := range old[1:3] {
		if resp, _ := tmsLogin(t, s, "rita", tfPassword, ptr(c)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("an old recovery code after regeneration: %d, want 401", resp.StatusCode)
		}
	}
	if resp, _ := tmsLogin(t, s, "rita", tfPassword, ptr(fresh[0])); resp.StatusCode != http.StatusOK {
		t.Errorf("a new recovery code: %d, want 200", resp.StatusCode)
	}
	if types := auditTypes(t, s, u.UID); !has(types, audit.RecoveryCodesRegenerate) {
		t.Errorf("audit events = %v, want %s", types, audit.RecoveryCodesRegenerate)
	}
}

// TestProfile_LanguageOrder: the profile's language is the UI's after
// ui_locales and the cookie, before Accept-Language (SPEC §5).
func TestProfile_LanguageOrder(t *testing.T) {
	s := tolktest.New(t)
	s.CreateUser(t, "lena", store.RoleLinguist, oldPassword)
	b := oauthflow.New(t, s.URL)
	b.Login(t, "lena", oldPassword)
	p := b.Get(t, "/settings/profile")
	for _, want := range []string{
		`<label for="first_name">First name</label>`, `<label for="last_name">Last name</label>`,
		`<label for="email">Email</label>`, `<label for="language">Language</label>`,
		`<label for="current_password">Current password</label>`, `>Save</button>`,
		`<option value="de" lang="de">Deutsch</option>`, `<a href="/settings/profile" aria-current="page">Profile</a>`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("profile page lacks %s", want)
		}
	}
	form := oauthflow.HiddenFields(p.Body)
	form.Set("email", "lena@example.org")
	form.Set("first_name", "Lena")
	form.Set("language", "xx")
	if r := b.Post(t, "/settings/profile", form); r.Status != http.StatusBadRequest {
		t.Errorf("a language no catalog has: %d, want 400", r.Status)
	}
	u, _ := s.Store.GetUserByUserName(context.Background(), "lena")
	form.Set("email", u.Email)
	form.Set("language", "de")
	if r := b.Post(t, "/settings/profile", form); r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", r.Status, r.Body)
	}
	get := func(path string, hdr ...string) string {
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := b.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return sb.String()
	}
	if body := get("/settings/profile", "Accept-Language", "en"); !strings.Contains(body, `<html lang="de">`) {
		t.Error("the profile's language does not come before Accept-Language")
	}
	if body := get("/settings/profile?ui_locales=en", "Accept-Language", "de"); !strings.Contains(body, `<html lang="en">`) {
		t.Error("ui_locales does not come before the profile's language")
	}
	if body := get("/settings/profile", "Cookie", "tolk_lang=en"); !strings.Contains(body, `<html lang="en">`) {
		t.Error("the language cookie does not come before the profile's language")
	}
	// Back to the browser's choice.
	form.Set("language", "")
	if r := b.Post(t, "/settings/profile", form); r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d", r.Status)
	}
	if body := get("/settings/profile", "Accept-Language", "en"); !strings.Contains(body, `<html lang="en">`) {
		t.Error("an empty profile language does not leave the choice to the browser")
	}
}

// TestProfile_LanguageOfMails: the language chosen in the profile is the
// language of the user's mails, whatever the language of the page that
// asked for the mail.
func TestProfile_LanguageOfMails(t *testing.T) {
	s, mp := rcServer(t, false, nil)
	s.CreateUser(t, "mira", store.RoleLinguist, oldPassword)
	b := oauthflow.New(t, s.URL)
	b.Login(t, "mira", oldPassword)
	form := oauthflow.HiddenFields(b.Get(t, "/settings/profile").Body)
	u, _ := s.Store.GetUserByUserName(context.Background(), "mira")
	form.Set("email", u.Email)
	form.Set("language", "de")
	if r := b.Post(t, "/settings/profile", form); r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", r.Status, r.Body)
	}
	if resp, body := rcForgot(t, newBrowser(s), "mira", "Accept-Language", "en"); resp.StatusCode != http.StatusOK {
		t.Fatalf("forgot password: %d\n%s", resp.StatusCode, body)
	}
	rcMailTo(t, mp, 1, u.Email, "Passwort zurücksetzen")
}
