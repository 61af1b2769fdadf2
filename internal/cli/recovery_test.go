package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/storeopen"
)

// setPasswordThrough opens a printed set_password_url at the served addr
// (the link names the configured issuer) and sets pw through its form;
// it returns the status of the POST, or of the GET when the page
// refuses the link.
func setPasswordThrough(t *testing.T, addr, link, pw string) int {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Path != "/reset-password" || len(u.Query().Get("token")) != 43 {
		t.Fatalf("set_password_url %q", link)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("http://" + addr + u.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf_token" value="([A-Za-z0-9]+)"`).FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		return resp.StatusCode // the page refuses the link
	}
	resp, err = c.PostForm("http://"+addr+"/reset-password", url.Values{"csrf_token": {string(m[1])},
		"token": {u.Query().Get("token")}, "new_password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestUserCreateInvitesAndResetLink: `tolk user create` without
// --password-stdin prints the user with a set_password_url valid
// invitation_ttl; `tolk user reset-link` prints {"set_password_url",
// "expires"}; both links set the password once, through the web page.
func TestUserCreateInvitesAndResetLink(t *testing.T) {
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password-long", "TOLK_SECRET_KEY": strings.Repeat("k", 40)}
	for name, newDB := range backends(t) {
		t.Run(name, func(t *testing.T) {
			db := newDB()
			before := time.Now()
			r := run(t, env, "", "user", "create", "--db", db, "--username", "ivy", "--email", "ivy@example.com", "--role", "guest")
			if r.code != 0 {
				t.Fatalf("create: %+v", r)
			}
			var out struct {
				UserName, Role string
				URL            string `json:"set_password_url"`
				Expires        string `json:"expires"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.UserName != "ivy" || out.Role != "GUEST" {
				t.Fatalf("create printed %q (%v)", r.stdout, err)
			}
			exp, err := time.Parse(time.RFC3339, out.Expires)
			if err != nil || exp.Before(before.Add(7*24*time.Hour-time.Minute)) || exp.After(time.Now().Add(7*24*time.Hour+time.Minute)) {
				t.Fatalf("expires %q, want invitation_ttl (7 days) from now", out.Expires)
			}
			addr := serve(t, env, db)
			if st, _ := tmsLogin(t, addr, "ivy", ""); st == http.StatusOK {
				t.Fatal("an invited user signs in without a password")
			}
			if st := setPasswordThrough(t, addr, out.URL, "ivy-chose-this-one-7"); st != http.StatusSeeOther {
				t.Fatalf("invitation link: %d", st)
			}
			if st, _ := tmsLogin(t, addr, "ivy", "ivy-chose-this-one-7"); st != http.StatusOK {
				t.Fatalf("sign-in with the chosen password: %d", st)
			}
			if st := setPasswordThrough(t, addr, out.URL, "second-use-of-link-8"); st != http.StatusBadRequest {
				t.Fatalf("invitation link used twice: %d, want 400", st)
			}

			r = run(t, env, "", "user", "reset-link", "--db", db, "--username", "IVY")
			var link struct {
				URL     string `json:"set_password_url"`
				Expires string `json:"expires"`
			}
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &link) != nil || link.URL == "" || link.Expires == "" {
				t.Fatalf("reset-link: %+v", r)
			}
			if st := setPasswordThrough(t, addr, link.URL, "ivy-reset-by-operator"); st != http.StatusSeeOther {
				t.Fatalf("reset link: %d", st)
			}
			if st, _ := tmsLogin(t, addr, "ivy", "ivy-reset-by-operator"); st != http.StatusOK {
				t.Fatalf("sign-in after reset-link: %d", st)
			}
			if r := run(t, env, "", "user", "reset-link", "--db", db, "--username", "nobody"); r.code == 0 || !strings.Contains(r.stderr, "not found") {
				t.Errorf("reset-link of nobody: %+v", r)
			}
		})
	}
}

// TestUserReset2FA: `tolk user reset-2fa` removes the second factor and
// its recovery codes; a user without one, or nobody, is an error.
func TestUserReset2FA(t *testing.T) {
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password-long", "TOLK_SECRET_KEY": strings.Repeat("k", 40)}
	for name, newDB := range backends(t) {
		t.Run(name, func(t *testing.T) {
			db := newDB()
			if r := run(t, env, "first-password-ibis\n", "user", "create", "--db", db, "--username", "ida", "--email", "ida@example.com", "--password-stdin"); r.code != 0 {
				t.Fatalf("create: %+v", r)
			}
			if r := run(t, env, "", "user", "reset-2fa", "--db", db, "--username", "ida"); r.code == 0 || !strings.Contains(r.stderr, "no second factor") {
				t.Fatalf("reset-2fa without one: %+v", r)
			}
			ctx := context.Background()
			st, err := storeopen.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			u, err := st.GetUserByUserName(ctx, "ida")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			if err := st.BeginTwoFactor(ctx, store.TwoFactor{UserUID: u.UID, SealedSecret: []byte("sealed"), CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := st.EnableTwoFactor(ctx, u.UID, []byte("sealed"), 1, now, []string{"h1", "h2"}); err != nil {
				t.Fatal(err)
			}
			if r := run(t, env, "", "user", "reset-2fa", "--db", db, "--username", "ida"); r.code != 0 || !strings.Contains(r.stdout, `"userName": "ida"`) {
				t.Fatalf("reset-2fa: %+v", r)
			}
			if _, err := st.GetTwoFactor(ctx, u.UID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("second factor after reset-2fa: %v", err)
			}
			if n, _ := st.CountRecoveryCodes(ctx, u.UID); n != 0 {
				t.Fatalf("%d recovery codes after reset-2fa", n)
			}
			if r := run(t, env, "", "user", "reset-2fa", "--db", db, "--username", "nobody"); r.code == 0 || !strings.Contains(r.stderr, "not found") {
				t.Errorf("reset-2fa of nobody: %+v", r)
			}
		})
	}
}
