package web_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

var (
	totpSecretRE = regexp.MustCompile(`<code id="totp_secret"[^>]*>([A-Z2-7 ]+)</code>`)
	recoveryRE   = regexp.MustCompile(`<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>`)
)

const tfPassword = "correct horse battery staple"

// totpCode computes the code of secret at t with pquerna/otp (the
// authenticator app's side).
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolThroughUI signs userName in, opens Settings → Two-factor
// authentication, confirms with a code and returns the base32 secret and
// the recovery codes shown.
func enrolThroughUI(t *testing.T, s *tolktest.Server, userName string) (string, []string) {
	t.Helper()
	b := oauthflow.New(t, s.URL)
	b.Login(t, userName, tfPassword)
	p := b.Get(t, "/settings/two-factor")
	if p.Status != http.StatusOK {
		t.Fatalf("GET /settings/two-factor: %d %s", p.Status, p.Body)
	}
	m := totpSecretRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no base32 secret on the enrolment page:\n%s", p.Body)
	}
	// Shown in groups of four (ABCD EFGH …); the secret is without the spaces.
	if !regexp.MustCompile(`^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$`).MatchString(m[1]) {
		t.Errorf("secret not grouped in fours: %q", m[1])
	}
	sec := strings.ReplaceAll(m[1], " ", "")
	if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(sec); err != nil || len(raw)*8 < 160 {
		t.Fatalf("secret %q: %d bits, %v; want >= 160", sec, len(raw)*8, err)
	}
	form := oauthflow.HiddenFields(p.Body)
	form.Set("code", totpCode(t, sec, s.Clock.Now()))
	form.Set("password", tfPassword)
	// Post/redirect/get: the codes are on the page the post leads to.
	if p := b.Post(t, "/settings/two-factor/enable", form); p.Status != http.StatusSeeOther || p.Location.RequestURI() != "/settings/two-factor?done=codes" {
		t.Fatalf("enable: %d %v %s", p.Status, p.Location, p.Body)
	}
	r := b.Get(t, "/settings/two-factor?done=codes")
	var codes []string
	for _, m := range recoveryRE.FindAllStringSubmatch(r.Body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		t.Fatalf("enable: %d recovery codes shown, want 10:\n%s", len(codes), r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("recovery codes page Cache-Control = %q, want no-store", cc)
	}
	// The codes are shown once: the settings page now only counts them.
	again := b.Get(t, "/settings/two-factor")
	if strings.Contains(again.Body, codes[0]) || totpSecretRE.MatchString(again.Body) {
		t.Fatal("the settings page shows the recovery codes or the secret again")
	}
	if !strings.Contains(again.Body, "Two-factor authentication is on.") {
		t.Fatalf("settings page after enabling:\n%s", again.Body)
	}
	return sec, codes
}

// tmsLogin posts a TMS login; code nil leaves "code" out.
func tmsLogin(t *testing.T, s *tolktest.Server, user, pw string, code *string) (*http.Response, map[string]any) {
	t.Helper()
	body := map[string]any{"userName": user, "password": pw}
	if code != nil {
		body["code"] = *code
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api2/v1/auth/login", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, raw := s.Do(t, req)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp, out
}

func ptr(s string) *string { return &s }

// step moves the test clock to the next TOTP time step, so a new code
// exists (each step's code is accepted once).
func step(s *tolktest.Server) { s.Clock.Advance(30 * time.Second) }

// TestTOTP_EnrolThroughUIThenLoginByEachDialect enrols through the
// settings page, then signs in by every dialect that takes a password:
// the web UI (two steps), TMS auth/login with "code", and the Strings
// Basic path (AuthenticateOTP with the X-PhraseApp-OTP value), on both
// backends.
func TestTOTP_EnrolThroughUIThenLoginByEachDialect(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "SQLite", true: "PostgreSQL"}[pg]
		t.Run(name, func(t *testing.T) {
			s := tolktest.New(t, tolktest.Options{Postgres: pg})
			s.CreateUser(t, "lena", store.RoleLinguist, tfPassword)
			sec, _ := enrolThroughUI(t, s, "lena")

			t.Run("web", func(t *testing.T) {
				step(s)
				b := oauthflow.New(t, s.URL)
				lp := b.Get(t, "/login?next=/settings/two-factor")
				form := oauthflow.HiddenFields(lp.Body)
				form.Set("username", "lena")
				form.Set("password", tfPassword)
				p := b.Post(t, "/login", form)
				if p.Status != http.StatusOK || !strings.Contains(p.Body, `<label for="code">Authentication code</label>`) {
					t.Fatalf("after the password: %d, want the Authentication code step:\n%s", p.Status, p.Body)
				}
				if strings.Contains(p.Body, tfPassword) || strings.Contains(p.Body, `name="password"`) {
					t.Fatal("the second step carries the password")
				}
				for _, c := range p.Header.Values("Set-Cookie") {
					if strings.HasPrefix(c, "tolk_session=") {
						t.Fatal("a session was started before the second factor")
					}
				}
				if b.Get(t, "/").Status != http.StatusSeeOther {
					t.Fatal("signed in after the password alone")
				}
				f2 := oauthflow.HiddenFields(p.Body)
				f2.Set("code", totpCode(t, sec, s.Clock.Now()))
				r := b.Post(t, "/login/two-factor", f2)
				if r.Status != http.StatusSeeOther || r.Location.Path != "/settings/two-factor" {
					t.Fatalf("POST /login/two-factor: %d %v %s", r.Status, r.Location, r.Body)
				}
				if h := b.Get(t, "/"); h.Status != http.StatusOK {
					t.Fatalf("GET / after the second step: %d", h.Status)
				}
			})

			t.Run("tms", func(t *testing.T) {
				step(s)
				resp, body := tmsLogin(t, s, "lena", tfPassword, nil)
				if resp.StatusCode != http.StatusUnauthorized || body["errorCode"] != "AuthTwoFactorRequired" {
					t.Fatalf("TMS login without code: %d %v", resp.StatusCode, body)
				}
				resp, body = tmsLogin(t, s, "lena", tfPassword, ptr(totpCode(t, sec, s.Clock.Now())))
				if resp.StatusCode != http.StatusOK || body["token"] == nil {
					t.Fatalf("TMS login with code: %d %v", resp.StatusCode, body)
				}
			})

			t.Run("strings-basic", func(t *testing.T) {
				step(s)
				// The Strings Authorizations API over HTTP: Basic with the
				// email and password, plus X-PhraseApp-OTP.
				create := func(otp string) (*http.Response, map[string]any) {
					req, _ := http.NewRequest(http.MethodPost, s.URL+"/v2/authorizations", strings.NewReader(`{"note":"ci","scopes":["read"]}`))
					req.Header.Set("Content-Type", "application/json")
					req.SetBasicAuth("lena@example.com", tfPassword)
					if otp != "" {
						req.Header.Set("X-PhraseApp-OTP", otp)
					}
					resp, raw := s.Do(t, req)
					out := map[string]any{}
					_ = json.Unmarshal(raw, &out)
					return resp, out
				}
				if resp, body := create(""); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-PhraseApp-OTP") != "required" {
					t.Fatalf("without X-PhraseApp-OTP: %d %v, want 401 and X-PhraseApp-OTP: required", resp.StatusCode, body)
				}
				resp, body := create(totpCode(t, sec, s.Clock.Now()))
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("with X-PhraseApp-OTP: %d %v", resp.StatusCode, body)
				}
				pat, _ := body["token"].(string)
				// A PAT is for strings: its resource endpoint is /v2/user
				// (TMS's whoAmI refuses another application's credential).
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/v2/user", nil)
				req.Header.Set("Authorization", "token "+pat)
				if resp, raw := s.Do(t, req); resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"username":"lena"`) {
					t.Fatalf("/v2/user with the PAT: %d %s", resp.StatusCode, raw)
				}
				ctx := context.Background()
				if _, err := s.Tolk.Identity.AuthenticateOTP(ctx, "strings", "lena", "wrong password!", totpCode(t, sec, s.Clock.Now()), "192.0.2.7"); !errors.Is(err, identity.ErrInvalidCredentials) {
					t.Fatalf("wrong password with a code: err = %v, want ErrInvalidCredentials", err)
				}
			})
		})
	}
}

// TestT39_CodeReplay: a code accepted once is refused for the rest of its
// time step, by any dialect (RFC 6238 §5.2), and so are codes of earlier
// steps.
func TestT39_CodeReplay(t *testing.T) {
	s := tolktest.New(t)
	s.CreateUser(t, "rita", store.RoleLinguist, tfPassword)
	sec, _ := enrolThroughUI(t, s, "rita")
	step(s)
	code := totpCode(t, sec, s.Clock.Now())
	if resp, body := tmsLogin(t, s, "rita", tfPassword, &code); resp.StatusCode != http.StatusOK {
		t.Fatalf("first use: %d %v", resp.StatusCode, body)
	}
	if resp, body := tmsLogin(t, s, "rita", tfPassword, &code); resp.StatusCode != http.StatusUnauthorized || body["errorCode"] != "AuthInvalidCredentials" {
		t.Fatalf("replay over TMS: %d %v, want 401 AuthInvalidCredentials", resp.StatusCode, body)
	}
	if _, err := s.Tolk.Identity.AuthenticateOTP(context.Background(), "strings", "rita", tfPassword, code, "192.0.2.9"); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Fatalf("replay over Basic: err = %v", err)
	}
	// The previous step's code is still within the ±1 window, but older
	// than the step already used.
	prev := totpCode(t, sec, s.Clock.Now().Add(-30*time.Second))
	if resp, _ := tmsLogin(t, s, "rita", tfPassword, &prev); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("previous step after the current one was used: %d, want 401", resp.StatusCode)
	}
	// The enrolment's confirming code is used too.
	step(s)
	if resp, _ := tmsLogin(t, s, "rita", tfPassword, ptr(totpCode(t, sec, s.Clock.Now()))); resp.StatusCode != http.StatusOK {
		t.Fatalf("next step's code: %d", resp.StatusCode)
	}
}

// TestT39_StepWindow: codes of the current step ±1 are accepted, ±2 are
// not.
func TestT39_StepWindow(t *testing.T) {
	s := tolktest.New(t)
	cases := []struct {
		steps int
		ok    bool
	}{{-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}}
	for i, c := range cases {
		name := "user" + string(rune('a'+i))
		s.CreateUser(t, name, store.RoleLinguist, tfPassword)
		sec, _ := enrolThroughUI(t, s, name)
		// Leave the enrolment's step far behind, so only the window decides.
		s.Clock.Advance(10 * time.Minute)
		code := totpCode(t, sec, s.Clock.Now().Add(time.Duration(c.steps)*30*time.Second))
		_, err := s.Tolk.Identity.AuthenticateOTP(context.Background(), "tms", name, tfPassword, code, "192.0.2.10")
		if (err == nil) != c.ok {
			t.Errorf("code of step %+d: err = %v, want accepted=%v", c.steps, err, c.ok)
		}
	}
}

// TestT39_WrongCodesThrottled: wrong codes (with the right password) count
// as failed logins: after the user's burst the login answers 429 with
// Retry-After, even with a right code; a missing code costs nothing.
func TestT39_WrongCodesThrottled(t *testing.T) {
	const burst = 5
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.LoginUserBurst = burst }})
	s.CreateUser(t, "tom", store.RoleLinguist, tfPassword)
	sec, _ := enrolThroughUI(t, s, "tom")
	step(s)
	for i := range 3 * burst {
		if resp, body := tmsLogin(t, s, "tom", tfPassword, nil); resp.StatusCode != http.StatusUnauthorized || body["errorCode"] != "AuthTwoFactorRequired" {
			t.Fatalf("login #%d without code: %d %v (a missing code must not count as a failure)", i+1, resp.StatusCode, body)
		}
	}
	right := totpCode(t, sec, s.Clock.Now())
	wrong := "000000"
	if wrong == right {
		wrong = "111111"
	}
	var throttled *http.Response
	for i := range burst + 1 {
		resp, _ := tmsLogin(t, s, "tom", tfPassword, &wrong)
		if resp.StatusCode == http.StatusTooManyRequests {
			throttled = resp
			break
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong code #%d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	if throttled == nil {
		t.Fatalf("no 429 after %d wrong codes", burst+1)
	}
	if throttled.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if resp, _ := tmsLogin(t, s, "tom", tfPassword, &right); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right code while throttled: %d, want 429", resp.StatusCode)
	}

	// The web's second step counts the same way.
	s.Clock.Advance(time.Hour)
	b := oauthflow.New(t, s.URL)
	lp := b.Get(t, "/login")
	form := oauthflow.HiddenFields(lp.Body)
	form.Set("username", "tom")
	form.Set("password", tfPassword)
	p := b.Post(t, "/login", form)
	f2 := oauthflow.HiddenFields(p.Body)
	f2.Set("code", wrong)
	got := 0
	for range burst + 1 {
		got = b.Post(t, "/login/two-factor", f2).Status
		if got == http.StatusTooManyRequests {
			break
		}
	}
	if got != http.StatusTooManyRequests {
		t.Fatalf("web second step: last status %d after %d wrong codes, want 429", got, burst+1)
	}
}

// TestTOTP_RecoveryCodeWorksOnce: a recovery code stands in for a TOTP
// code exactly once, in any dialect, hyphens and case aside.
func TestTOTP_RecoveryCodeWorksOnce(t *testing.T) {
	s := tolktest.New(t)
	s.CreateUser(t, "rob", store.RoleLinguist, tfPassword)
	_, codes := enrolThroughUI(t, s, "rob")
	typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
	if resp, body := tmsLogin(t, s, "rob", tfPassword, &typed); resp.StatusCode != http.StatusOK {
		t.Fatalf("recovery code: %d %v", resp.StatusCode, body)
	}
	if resp, _ := tmsLogin(t, s, "rob", tfPassword, &codes[0]); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("recovery code again: %d, want 401", resp.StatusCode)
	}
	if _, err := s.Tolk.Identity.AuthenticateOTP(context.Background(), "strings", "rob", tfPassword, codes[1], "192.0.2.11"); err != nil {
		t.Fatalf("second recovery code over Basic: %v", err)
	}
	b := oauthflow.New(t, s.URL)
	b.Login(t, "admin", tolktest.AdminPassword) // another user's session
	p := b.Get(t, "/settings/two-factor")
	if p.Status != http.StatusOK || strings.Contains(p.Body, "Unused recovery codes: 8") {
		t.Fatalf("admin's page shows rob's codes")
	}
}

// TestTOTP_DisableNeedsPassword: turning the second factor off asks for
// the password; the wrong one changes nothing.
func TestTOTP_DisableNeedsPassword(t *testing.T) {
	s := tolktest.New(t)
	s.CreateUser(t, "dora", store.RoleLinguist, tfPassword)
	sec, _ := enrolThroughUI(t, s, "dora")
	step(s)
	b := oauthflow.New(t, s.URL)
	lp := b.Get(t, "/login")
	form := oauthflow.HiddenFields(lp.Body)
	form.Set("username", "dora")
	form.Set("password", tfPassword)
	p := b.Post(t, "/login", form)
	f2 := oauthflow.HiddenFields(p.Body)
	f2.Set("code", totpCode(t, sec, s.Clock.Now()))
	if r := b.Post(t, "/login/two-factor", f2); r.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.Status)
	}
	if page := b.Get(t, "/settings/two-factor"); !strings.Contains(page.Body, `href="/settings/two-factor/disable" aria-describedby="disable-help">Disable</a>`) {
		t.Fatalf("no Disable:\n%s", page.Body)
	}
	// Disable asks once more, with the Current password beside Confirm.
	page := b.Get(t, "/settings/two-factor/disable")
	if !strings.Contains(page.Body, `<label for="password">Current password</label>`) || !button(page.Body, "Confirm") {
		t.Fatalf("no Current password field and Confirm button:\n%s", page.Body)
	}
	csrf := oauthflow.HiddenFields(page.Body).Get("csrf_token")
	cases := []struct {
		name     string
		form     url.Values
		status   int
		stillOn  bool
		location string
	}{
		{"no CSRF token", url.Values{"password": {tfPassword}}, http.StatusForbidden, true, ""},
		{"wrong password", url.Values{"csrf_token": {csrf}, "confirm": {"1"}, "password": {"not the password"}}, http.StatusUnauthorized, true, ""},
		{"right password", url.Values{"csrf_token": {csrf}, "confirm": {"1"}, "password": {tfPassword}}, http.StatusSeeOther, false, "/settings/two-factor"},
	}
	for _, c := range cases {
		r := b.Post(t, "/settings/two-factor/disable", c.form)
		if r.Status != c.status || (c.location != "" && r.Location.Path != c.location) {
			t.Fatalf("%s: %d %v", c.name, r.Status, r.Location)
		}
		resp, body := tmsLogin(t, s, "dora", tfPassword, nil)
		on := resp.StatusCode == http.StatusUnauthorized && body["errorCode"] == "AuthTwoFactorRequired"
		if on != c.stillOn {
			t.Fatalf("%s: two-factor still on = %v, want %v (%d %v)", c.name, on, c.stillOn, resp.StatusCode, body)
		}
	}
}

// TestTOTP_EnableNeedsPassword: turning the second factor on asks for the
// password too, so a stolen session alone cannot enrol the thief's
// authenticator (ASVS 7.5.1). A wrong or missing password changes nothing
// and counts toward the account's failure limit, which a right password
// then also meets.
func TestTOTP_EnableNeedsPassword(t *testing.T) {
	const burst = 3
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) { c.LoginUserBurst = burst }})
	s.CreateUser(t, "eva", store.RoleLinguist, tfPassword)
	b := oauthflow.New(t, s.URL)
	b.Login(t, "eva", tfPassword)
	p := b.Get(t, "/settings/two-factor")
	sec := strings.ReplaceAll(totpSecretRE.FindStringSubmatch(p.Body)[1], " ", "")
	csrf := oauthflow.HiddenFields(p.Body).Get("csrf_token")
	on := func() bool {
		resp, body := tmsLogin(t, s, "eva", tfPassword, nil)
		return resp.StatusCode == http.StatusUnauthorized && body["errorCode"] == "AuthTwoFactorRequired"
	}
	code := func() string { return totpCode(t, sec, s.Clock.Now()) }
	cases := []struct {
		name   string
		form   url.Values
		status int
	}{
		{"no password", url.Values{"csrf_token": {csrf}, "code": {code()}}, http.StatusUnauthorized},
		{"wrong password", url.Values{"csrf_token": {csrf}, "code": {code()}, "password": {"not the password"}}, http.StatusUnauthorized},
		{"right password, wrong code", url.Values{"csrf_token": {csrf}, "code": {"000000x"}, "password": {tfPassword}}, http.StatusBadRequest},
		{"third failure", url.Values{"csrf_token": {csrf}, "code": {code()}, "password": {"still not it"}}, http.StatusUnauthorized},
		// The account's failure budget is spent (by sign-in and by
		// confirmation alike): even the right password is refused.
		{"throttled", url.Values{"csrf_token": {csrf}, "code": {code()}, "password": {tfPassword}}, http.StatusTooManyRequests},
	}
	for _, c := range cases {
		r := b.Post(t, "/settings/two-factor/enable", c.form)
		if r.Status != c.status {
			t.Fatalf("%s: %d, want %d\n%s", c.name, r.Status, c.status, r.Body)
		}
		if on() {
			t.Fatalf("%s: two-factor authentication was turned on", c.name)
		}
	}
	if resp, _ := tmsLogin(t, s, "eva", tfPassword, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("TMS sign-in after three wrong confirmations: %d, want 429 (one budget per account)", resp.StatusCode)
	}
	s.Clock.Advance(time.Hour)
	r := b.Post(t, "/settings/two-factor/enable", url.Values{"csrf_token": {csrf}, "code": {code()}, "password": {tfPassword}})
	if r.Status == http.StatusSeeOther {
		r = b.Get(t, r.Location.RequestURI())
	}
	if r.Status != http.StatusOK || !recoveryRE.MatchString(r.Body) {
		t.Fatalf("right password and code: %d\n%s", r.Status, r.Body)
	}
	if !on() {
		t.Fatal("two-factor authentication is not on after a right password and code")
	}
}

// TestT34_TOTPSecretSealed: the database file holds neither the base32
// secret, nor its raw bytes, nor a recovery code.
func TestT34_TOTPSecretSealed(t *testing.T) {
	s := tolktest.New(t)
	s.CreateUser(t, "sam", store.RoleLinguist, tfPassword)
	sec, codes := enrolThroughUI(t, s, "sam")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(sec)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(s.Tolk.Config.DB, "sqlite:")
	var db []byte
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		db = append(db, b...)
	}
	if len(db) == 0 {
		t.Fatal("read no database bytes")
	}
	needles := map[string][]byte{"base32 secret": []byte(sec), "raw secret": raw}
	for i, c := range codes {
		needles["recovery code "+string(rune('0'+i))] = []byte(c)
		needles["recovery code "+string(rune('0'+i))+" unhyphenated"] = []byte(strings.ReplaceAll(c, "-", ""))
	}
	for name, n := range needles {
		if bytes.Contains(db, n) {
			t.Errorf("the SQLite file contains the %s", name)
		}
	}
	// Guard against a vacuous pass: the file does hold the user.
	if !bytes.Contains(db, []byte("sam@example.com")) {
		t.Fatal("the database bytes do not even contain the user's email")
	}
}

// TestT39_OathtoolCode logs in with a code computed by oathtool, an
// independent TOTP implementation (Debian package oathtool).
func TestT39_OathtoolCode(t *testing.T) {
	if _, err := exec.LookPath("oathtool"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("oathtool is not installed (apt-get install oathtool); required under CI=true")
		}
		t.Skip("oathtool not on PATH; install the Debian package oathtool to run this independent TOTP check")
	}
	s := tolktest.New(t)
	s.CreateUser(t, "otto", store.RoleLinguist, tfPassword)
	sec, _ := enrolThroughUI(t, s, "otto")
	step(s)
	now := s.Clock.Now().UTC().Format("2006-01-02 15:04:05 UTC")
	out, err := exec.Command("oathtool", "--totp", "-b", sec, "--now", now).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	code := strings.TrimSpace(string(out))
	if len(code) != 6 {
		t.Fatalf("oathtool printed %q", out)
	}
	if resp, body := tmsLogin(t, s, "otto", tfPassword, &code); resp.StatusCode != http.StatusOK {
		t.Fatalf("TMS login with oathtool's code: %d %v", resp.StatusCode, body)
	}
}

// TestTwoFactorPage_NoStoreAndLabels: the enrolment page carries the
// secret, so it is not cached; its controls have the names the SPEC gives.
func TestTwoFactorPage_NoStoreAndLabels(t *testing.T) {
	s := tolktest.New(t)
	s.CreateUser(t, "nora", store.RoleLinguist, tfPassword)
	b := oauthflow.New(t, s.URL)
	if p := b.Get(t, "/settings/two-factor"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location.Path, "/login") {
		t.Fatalf("signed out: %d %v, want a redirect to /login", p.Status, p.Location)
	}
	b.Login(t, "nora", tfPassword)
	p := b.Get(t, "/settings/two-factor")
	if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	for _, want := range []string{
		`<label for="code">Authentication code</label>`,
		`<input id="code" name="code"`,
		`<label for="password">Current password</label>`,
		`<input id="password" name="password" type="password" autocomplete="current-password" required`,
		`>Enable</button>`,
		`<img src="data:image/png;base64,`,
		`alt="QR code that adds your account nora to an authenticator app"`,
		`<a href="/settings/two-factor" aria-current="page">Two-factor authentication</a>`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("enrolment page lacks %s", want)
		}
	}
	if !totpSecretRE.MatchString(p.Body) {
		t.Error("enrolment page lacks the base32 secret")
	}
	// Reloading keeps the same pending secret (the app may have scanned it).
	if a, c := totpSecretRE.FindString(p.Body), totpSecretRE.FindString(b.Get(t, "/settings/two-factor").Body); a != c {
		t.Error("reloading the page changed the secret")
	}
	// A wrong code does not enable, and a form without the CSRF token is refused.
	form := oauthflow.HiddenFields(p.Body)
	form.Set("code", "12345x")
	form.Set("password", tfPassword)
	if r := b.Post(t, "/settings/two-factor/enable", form); r.Status != http.StatusBadRequest {
		t.Fatalf("wrong code: %d, want 400", r.Status)
	}
	form.Del("csrf_token")
	if r := b.Post(t, "/settings/two-factor/enable", form); r.Status != http.StatusForbidden {
		t.Fatalf("no CSRF token: %d, want 403", r.Status)
	}
	de := b.Get(t, "/settings/two-factor?ui_locales=de")
	if !strings.Contains(de.Body, `<label for="code">Authentifizierungscode</label>`) {
		t.Error("German enrolment page is not translated")
	}
}

// TestTOTP_PendingSignInExpires: the second step lasts five minutes and
// can be finished once.
func TestTOTP_PendingSignInExpires(t *testing.T) {
	s := tolktest.New(t)
	s.CreateUser(t, "pia", store.RoleLinguist, tfPassword)
	sec, _ := enrolThroughUI(t, s, "pia")
	b := oauthflow.New(t, s.URL)
	lp := b.Get(t, "/login")
	form := oauthflow.HiddenFields(lp.Body)
	form.Set("username", "pia")
	form.Set("password", tfPassword)
	p := b.Post(t, "/login", form)
	var pending string
	for _, c := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "tolk_2fa=") {
			pending = c
		}
	}
	if !strings.Contains(pending, "HttpOnly") || !strings.Contains(pending, "SameSite=Lax") {
		t.Fatalf("pending sign-in cookie %q: want HttpOnly, SameSite=Lax", pending)
	}
	s.Clock.Advance(6 * time.Minute)
	f2 := oauthflow.HiddenFields(p.Body)
	f2.Set("code", totpCode(t, sec, s.Clock.Now()))
	r := b.Post(t, "/login/two-factor", f2)
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, `name="password"`) {
		t.Fatalf("expired pending sign-in: %d, want 401 and the password form again", r.Status)
	}
	if b.Get(t, "/").Status != http.StatusSeeOther {
		t.Fatal("an expired pending sign-in signed in")
	}
}
