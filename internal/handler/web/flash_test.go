package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestSecretsShownOncePostRedirectGet (SPEC §5, shown once means easy to
// keep): creating an access token, an app or an API key answers with a
// 303 whose URL carries no secret; the page it leads to shows the secret
// with a Copy button, once: reloading it shows no secret and creates
// nothing. The flash opens only in the session that made it.
func TestSecretsShownOncePostRedirectGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := tolktest.New(t)
	admin := appsAdmin(t, s)
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-12345")

	for _, c := range []struct {
		name, form, page string
		values           url.Values
		secret           func(body string) string
		copyOf           string // the id the Copy button copies
		count            func() int
	}{
		{"access token", "/settings/access-tokens", "/settings/access-tokens", url.Values{"name": {"Reload me"}},
			func(b string) string { return first(newTokenRE, b) }, "new-token",
			func() int { return len(listTokens(t, s, adminUID(t, s))) }},
		{"OAuth app", "/settings/oauth-apps/new", "/settings/oauth-apps", appsForm("", "Reload App", nil),
			func(b string) string { return first(appsSecretRE, b) }, "client_secret",
			func() int { return len(appsList(t, s, adminOrg(t, s))) }},
		{"API key", "/settings/api-keys", "/settings/api-keys", url.Values{"user": {lena.UID}, "note": {"reload"}},
			func(b string) string { return first(newKeyRE, b) }, "new_key",
			func() int { ks, _ := s.Store.ListAPIKeys(ctx, lena.OrgUID); return len(ks) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			form := url.Values{}
			for k, v := range c.values {
				form[k] = v
			}
			form.Set("csrf_token", appsCSRF(t, admin, c.form))
			p := admin.Post(t, c.form, form)
			if p.Status != http.StatusSeeOther || p.Location.Path != c.page {
				t.Fatalf("create: %d %v, want 303 to %s", p.Status, p.Location, c.page)
			}
			if c.count() != 1 {
				t.Fatalf("%d made", c.count())
			}
			// Another session (even of the same user) cannot open the flash.
			other := appsAdmin(t, s)
			stolen := &http.Cookie{Name: "tolk_flash", Value: flashCookieOf(t, admin, s.URL)}
			other.Client.Jar.SetCookies(mustURL(t, s.URL), []*http.Cookie{stolen})
			if o := other.Get(t, p.Location.RequestURI()); c.secret(o.Body) != "" {
				t.Error("another session opened the flash")
			}

			shown := admin.Get(t, p.Location.RequestURI())
			sec := c.secret(shown.Body)
			if shown.Status != http.StatusOK || sec == "" {
				t.Fatalf("the page after the redirect: %d, no secret:\n%s", shown.Status, shown.Body)
			}
			if strings.Contains(p.Location.String(), sec) {
				t.Error("the secret is in the URL")
			}
			if !strings.Contains(shown.Body, `data-copy="`+c.copyOf+`"`) || !strings.Contains(shown.Body, ">Copy</button>") ||
				!strings.Contains(shown.Body, `<script src="/static/copy.js" defer></script>`) {
				t.Error("no Copy button for the secret")
			}
			if cc := shown.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			again := admin.Get(t, p.Location.RequestURI())
			if again.Status != http.StatusOK || strings.Contains(again.Body, sec) {
				t.Errorf("reload: %d, the secret shown again: %v", again.Status, strings.Contains(again.Body, sec))
			}
			if c.count() != 1 {
				t.Errorf("%d made after the reload, want 1", c.count())
			}
		})
	}
}

// TestRecoveryCodesCopyAndDownload: new recovery codes come after a 303,
// with Copy and a download as a text file holding every code; a reload
// shows them no more. The enrolment page groups the secret in fours.
func TestRecoveryCodesCopyAndDownload(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	s.CreateUser(t, "codi", store.RoleLinguist, tfPassword)
	sec, codes := enrolThroughUI(t, s, "codi") // follows the 303 and checks the codes are shown once
	step(s)
	b := oauthflow.New(t, s.URL)
	lp := b.Get(t, "/login")
	form := oauthflow.HiddenFields(lp.Body)
	form.Set("username", "codi")
	form.Set("password", tfPassword)
	f2 := oauthflow.HiddenFields(b.Post(t, "/login", form).Body)
	f2.Set("code", totpCode(t, sec, s.Clock.Now()))
	if r := b.Post(t, "/login/two-factor", f2); r.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.Status)
	}
	csrf := appsCSRF(t, b, "/settings/two-factor")
	p := b.Post(t, "/settings/two-factor/recovery-codes", url.Values{"csrf_token": {csrf}, "password": {tfPassword}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("regenerate: %d", p.Status)
	}
	shown := b.Get(t, p.Location.RequestURI())
	var fresh []string
	for _, m := range recoveryRE.FindAllStringSubmatch(shown.Body, -1) {
		fresh = append(fresh, m[1])
	}
	if len(fresh) != 10 || fresh[0] == codes[0] {
		t.Fatalf("%d new codes", len(fresh))
	}
	dl := first(downloadRE, shown.Body)
	if dl == "" {
		t.Fatalf("no download link:\n%s", shown.Body)
	}
	text, err := url.PathUnescape(strings.TrimPrefix(dl, "data:text/plain;charset=utf-8,"))
	if err != nil || !strings.HasPrefix(dl, "data:text/plain;charset=utf-8,") {
		t.Fatalf("download %q: %v", dl, err)
	}
	for _, c := range fresh {
		if !strings.Contains(text, c+"\n") {
			t.Errorf("the text file lacks %s:\n%s", c, text)
		}
	}
	if !strings.Contains(shown.Body, `data-copy="recovery_codes"`) {
		t.Error("no Copy button for the codes")
	}
	if again := b.Get(t, p.Location.RequestURI()); strings.Contains(again.Body, fresh[0]) {
		t.Error("a reload shows the codes again")
	}
}

var downloadRE = regexp.MustCompile(`<a class="button secondary" href="([^"]+)" download="tolk-recovery-codes.txt">Download as a text file</a>`)

func first(re *regexp.Regexp, body string) string {
	if m := re.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// flashCookieOf is the flash cookie b holds for base.
func flashCookieOf(t *testing.T, b *oauthflow.Browser, base string) string {
	t.Helper()
	for _, c := range b.Client.Jar.Cookies(mustURL(t, base)) {
		if c.Name == "tolk_flash" {
			return c.Value
		}
	}
	t.Fatal("no flash cookie after the post")
	return ""
}
