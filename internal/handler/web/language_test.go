package web_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// The Language menu, the order of the language preferences, and the
// catalogs' completeness as the pages show it (SPEC §5).

// setLanguage chooses a language through the menu of page from.
func setLanguage(t *testing.T, b *oauthflow.Browser, from, lang string) *oauthflow.Page {
	t.Helper()
	p := b.Get(t, from)
	m := langMenuRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("GET %s: no language menu: %s", from, p.Body)
	}
	return b.Post(t, "/language", url.Values{"csrf_token": {html.UnescapeString(m[1])}, "next": {html.UnescapeString(m[2])}, "lang": {lang}})
}

var langMenuRE = regexp.MustCompile(`(?s)<form method="post" action="/language" class="lang-menu">.*?<input name="csrf_token" type="hidden" value="([^"]*)"><input name="next" type="hidden" value="([^"]*)">`)

func TestLanguageMenu(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")

	// Signed out: every catalog, each in its own language, under the label
	// Language; the choice is kept in the cookie.
	b := oauthflow.New(t, s.URL)
	p := b.Get(t, "/forgot-password")
	for _, want := range []string{`<label for="lang-menu">Language</label>`, `<option value="en" lang="en" selected>English</option>`,
		`<option value="de" lang="de">Deutsch</option>`, `<option value="fr" lang="fr">Français</option>`,
		`<option value="es" lang="es">Español</option>`, `<option value="it" lang="it">Italiano</option>`,
		`<option value="pt-BR" lang="pt-BR">Português (Brasil)</option>`, `<option value="pl" lang="pl">Polski</option>`,
		`<option value="cs" lang="cs">Čeština</option>`, `<option value="ja" lang="ja">日本語</option>`,
		`<option value="zh-Hans" lang="zh-Hans">简体中文</option>`} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("menu lacks %s", want)
		}
	}
	r := setLanguage(t, b, "/forgot-password", "fr")
	if r.Status != http.StatusSeeOther || r.Location.RequestURI() != "/forgot-password" {
		t.Fatalf("POST /language: %d %v", r.Status, r.Location)
	}
	if p := b.Get(t, "/forgot-password"); !strings.Contains(p.Body, `<html lang="fr">`) || !strings.Contains(p.Body, "Mot de passe oublié") {
		t.Fatalf("after choosing French: %s", p.Body)
	}

	// Signed in: the profile keeps the choice too, so it follows the user
	// to another browser (and into their mails).
	b2 := oauthflow.New(t, s.URL)
	b2.Login(t, "lena", "lena-password-1")
	if r := setLanguage(t, b2, "/settings/sessions", "ja"); r.Status != http.StatusSeeOther || r.Location.RequestURI() != "/settings/sessions" {
		t.Fatalf("signed-in POST /language: %d %v", r.Status, r.Location)
	}
	if u, _ := s.Store.GetUser(context.Background(), lena.UID); u.Language != "ja" {
		t.Fatalf("profile language %q, want ja", u.Language)
	}
	b3 := oauthflow.New(t, s.URL)
	b3.Login(t, "lena", "lena-password-1")
	if p := b3.Get(t, "/"); !strings.Contains(p.Body, `<html lang="ja">`) || !strings.Contains(p.Body, "ホーム") {
		t.Fatalf("another browser of lena is not Japanese: %s", p.Body)
	}

	// Refusals: an unknown language, a signed-in post without the
	// session's token, a cross-site post; an outside next goes home.
	csrf := appsCSRF(t, b2, "/settings/sessions")
	for _, tc := range []struct {
		name   string
		b      *oauthflow.Browser
		form   url.Values
		status int
	}{
		{"unknown language", b2, url.Values{"csrf_token": {csrf}, "lang": {"xx"}}, http.StatusBadRequest},
		{"offered language by another tag", b2, url.Values{"csrf_token": {csrf}, "lang": {"fr-CA"}}, http.StatusBadRequest},
		{"no CSRF token when signed in", b2, url.Values{"lang": {"de"}}, http.StatusForbidden},
	} {
		if r := tc.b.Post(t, "/language", tc.form); r.Status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, r.Status, tc.status)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/language", strings.NewReader("lang=de&next=/login"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, _ := s.Do(t, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d, want 403", resp.StatusCode)
	}
	if r := b.Post(t, "/language", url.Values{"lang": {"de"}, "next": {"//evil.example/"}}); r.Status != http.StatusSeeOther || r.Location.RequestURI() != "/" || r.Location.Host != strings.TrimPrefix(s.URL, "http://") {
		t.Errorf("outside next: %d %v", r.Status, r.Location)
	}
	if u, _ := s.Store.GetUser(context.Background(), lena.UID); u.Language != "ja" {
		t.Errorf("a refused post changed the profile language to %q", u.Language)
	}
	// After a form post, the menu returns to the page's own address, not
	// to the post's (which may take no GET).
	tf := b2.Post(t, "/settings/two-factor/enable", url.Values{"csrf_token": {csrf}, "code": {"000000"}, "password": {"wrong"}})
	if m := langMenuRE.FindStringSubmatch(tf.Body); m == nil || m[2] != "/settings/two-factor" {
		t.Errorf("menu after a two-factor post returns to %v", m)
	}
	// The profile page has a Language field of its own: one label, one control.
	if p := b2.Get(t, "/settings/profile"); strings.Contains(p.Body, `id="lang-menu"`) || !strings.Contains(p.Body, `<label for="language">言語</label>`) {
		t.Error("profile page shows the menu beside its Language field")
	}
}

// TestLanguagePrecedence: ui_locales, then the cookie, then the profile,
// then Accept-Language, then English (SPEC §5).
func TestLanguagePrecedence(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	if _, err := s.Store.GetUser(context.Background(), lena.UID); err != nil {
		t.Fatal(err)
	}
	b := oauthflow.New(t, s.URL)
	b.Login(t, "lena", "lena-password-1")
	// The profile says German.
	csrf := appsCSRF(t, b, "/settings/profile")
	if r := b.Post(t, "/settings/profile", url.Values{"csrf_token": {csrf}, "first_name": {"Lena"}, "last_name": {"L"},
		"email": {"lena@example.com"}, "language": {"de"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("profile: %d %s", r.Status, r.Body)
	}
	lang := func(path, acceptLanguage string) string {
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		if acceptLanguage != "" {
			req.Header.Set("Accept-Language", acceptLanguage)
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
		m := regexp.MustCompile(`<html lang="([^"]+)">`).FindStringSubmatch(sb.String())
		if m == nil {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, sb.String())
		}
		return m[1]
	}
	// Saving the profile's language set the cookie to it as well.
	if got := lang("/", "pl"); got != "de" {
		t.Errorf("profile (and its cookie) over Accept-Language: %s, want de", got)
	}
	// A cookie from the menu outranks the profile; the menu changes both,
	// so clear the cookie by hand to see the profile alone.
	u, _ := url.Parse(s.URL)
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "tolk_lang", Value: "it", Path: "/"}})
	if got := lang("/", "pl"); got != "it" {
		t.Errorf("cookie over profile: %s, want it", got)
	}
	if got := lang("/?ui_locales=cs", "pl"); got != "cs" {
		t.Errorf("ui_locales over cookie: %s, want cs", got)
	}
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "tolk_lang", Value: "", Path: "/", MaxAge: -1}})
	if got := lang("/", "pl"); got != "de" {
		t.Errorf("profile over Accept-Language: %s, want de", got)
	}
	// Dates follow the language: German day.month.year on the sessions page.
	if p := b.Get(t, "/settings/sessions"); !regexp.MustCompile(`\d\d\.\d\d\.\d{4}, \d\d:\d\d:\d\d UTC`).MatchString(p.Body) {
		t.Errorf("sessions page in German without a German date: %s", p.Body)
	}
	anon := oauthflow.New(t, s.URL)
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/login", nil)
	req.Header.Set("Accept-Language", "pt-BR,pt;q=0.9")
	resp, body := s.Do(t, req)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<html lang="pt-BR">`) {
		t.Errorf("Accept-Language alone: %s", body)
	}
	if p := anon.Get(t, "/login"); !strings.Contains(p.Body, `<html lang="en">`) {
		t.Errorf("nothing at all: not English")
	}
}

// TestSignInNamesTheApp: the sign-in page reached from /oauth/authorize
// says which app asks; a made-up request names nothing.
func TestSignInNamesTheApp(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	const redirect = "https://app.example/cb"
	c, _, err := s.Tolk.Authz.CreateClient(context.Background(), authz.ClientSpec{OrgUID: adminOrg(t, s), Name: "Zorblax Sync", RedirectURIs: []string{redirect}})
	if err != nil {
		t.Fatal(err)
	}
	b := oauthflow.New(t, s.URL)
	r := b.Get(t, "/oauth/authorize?"+url.Values{"client_id": {c.ID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}}.Encode())
	if r.Status != http.StatusSeeOther {
		t.Fatalf("authorize: %d", r.Status)
	}
	p := b.Get(t, r.Location.RequestURI())
	if !strings.Contains(p.Body, `<p class="lead" id="signin-for">Sign in to continue to Zorblax Sync</p>`) {
		t.Errorf("sign-in page does not name the app: %s", p.Body)
	}
	// After a failed sign-in too.
	form := oauthflow.HiddenFields(p.Body)
	form.Set("username", "admin")
	form.Set("password", "wrong")
	if f := b.Post(t, "/login", form); !strings.Contains(f.Body, "Sign in to continue to Zorblax Sync") {
		t.Errorf("failed sign-in page does not name the app")
	}
	for _, next := range []string{"/oauth/authorize?client_id=nope&redirect_uri=x", "/oauth/authorize?" + url.Values{"client_id": {c.ID},
		"redirect_uri": {"https://evil.example/cb"}}.Encode(), "/settings/profile"} {
		if p := b.Get(t, "/login?next="+url.QueryEscape(next)); strings.Contains(p.Body, "signin-for") {
			t.Errorf("next %s: an app is named", next)
		}
	}
}

// TestErrorPagesKeepTheNavigation: a 403, a 404 and a 400 of a signed-in
// user carry the navigation (and the Language menu); signed out, a page
// still has the menu.
func TestErrorPagesKeepTheNavigation(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	b := oauthflow.New(t, s.URL)
	b.Login(t, "lena", "lena-password-1")
	csrf := appsCSRF(t, b, "/settings/sessions")
	for _, tc := range []struct {
		name   string
		do     func() *oauthflow.Page
		status int
	}{
		{"403", func() *oauthflow.Page { return b.Get(t, "/settings/users") }, http.StatusForbidden},
		{"404", func() *oauthflow.Page { return b.Get(t, "/settings/access-tokens/nope/revoke") }, http.StatusNotFound},
		{"400", func() *oauthflow.Page {
			return b.Post(t, "/language", url.Values{"csrf_token": {csrf}, "lang": {"xx"}})
		}, http.StatusBadRequest},
	} {
		p := tc.do()
		if p.Status != tc.status {
			t.Errorf("%s: status %d", tc.name, p.Status)
			continue
		}
		for _, want := range []string{`<nav aria-label="Main">`, `href="/settings/profile"`, `href="/logout"`, `id="lang-menu"`} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("%s page lacks %s", tc.name, want)
			}
		}
	}
}

// TestRolesNamedAlike: Home, the users list and the edit form name a role
// by the same catalog text, never by its API constant.
func TestRolesNamedAlike(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	b := appsAdmin(t, s)
	home := b.Get(t, "/").Body
	if !strings.Contains(home, "<dd>Administrator</dd>") || strings.Contains(home, "ADMIN<") {
		t.Errorf("home: %s", home)
	}
	users := b.Get(t, "/settings/users").Body
	if !strings.Contains(users, ">Administrator<") || !strings.Contains(users, ">Linguist<") {
		t.Errorf("users page does not name the roles alike")
	}
	edit := b.Get(t, "/settings/users/"+lena.UID+"/edit")
	if edit.Status == http.StatusOK && !strings.Contains(edit.Body, ">Linguist<") {
		t.Errorf("edit page does not name the role")
	}
	lb := oauthflow.New(t, s.URL)
	lb.Login(t, "lena", "lena-password-1")
	if p := lb.Get(t, "/").Body; !strings.Contains(p, "<dd>Linguist</dd>") {
		t.Errorf("linguist's home: %s", p)
	}
}

// catalog reads a shipped catalog.
func catalog(t *testing.T, lang string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "kit", "i18n", "locales", lang+".json"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	scriptRE    = regexp.MustCompile(`(?is)<(script|style)[^>]*>.*?</(script|style)>`)
	codeRE      = regexp.MustCompile(`(?is)<code[^>]*>.*?</code>`)
	visibleAttr = regexp.MustCompile(`(?i)\s(?:alt|aria-label|placeholder|title|data-copied|data-label)="([^"]*)"`)
	tagRE       = regexp.MustCompile(`<[^>]*>`)
	verbRE      = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[a-zA-Z]`)
)

// visibleText is what a reader sees or hears of a page: its text and the
// attributes that are read out or shown. Code spans are left out: they
// hold identifiers (scope and grant names, client IDs, URIs), the same in
// every language.
func visibleText(body string) string {
	body = scriptRE.ReplaceAllString(body, " ")
	body = codeRE.ReplaceAllString(body, " ")
	var sb strings.Builder
	for _, m := range visibleAttr.FindAllStringSubmatch(body, -1) {
		sb.WriteString(m[1] + "\n")
	}
	sb.WriteString(tagRE.ReplaceAllString(body, "\n"))
	return html.UnescapeString(sb.String())
}

// containsWord reports whether s contains w with no letter or digit on
// either side.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before, after := ' ', ' '
		if j > 0 {
			before = []rune(s[:j])[len([]rune(s[:j]))-1]
		}
		if k := j + len(w); k < len(s) {
			after = []rune(s[k:])[0]
		}
		if !unicode.IsLetter(before) && !unicode.IsDigit(before) && !unicode.IsLetter(after) && !unicode.IsDigit(after) {
			return true
		}
		i = j + 1
	}
}

// englishFragments are the English catalog's texts cut at their
// placeholders, each with at least three letters.
func englishFragments(en map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range en {
		if strings.HasPrefix(k, "format.") || k == "mail.time_layout" {
			continue
		}
		for _, f := range verbRE.Split(v, -1) {
			f = strings.TrimFunc(f, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
			letters := 0
			for _, r := range f {
				if unicode.IsLetter(r) {
					letters++
				}
			}
			if letters >= 3 {
				out[f] = k
			}
		}
	}
	return out
}

// properNouns are names that stay as they are in every language.
var properNouns = []string{"tolk", "English", "OAuth", "ApiToken", "ApiTokens", "JWT", "PKCE", "API", "UTC", "URI"}

// TestNoEnglishLeaks renders every page (signed out, as a linguist and as
// an admin, with a validation error shown) in every language but English
// and finds no English catalog text in what a reader sees, but for words
// the language's catalog itself uses (Token, Status…) and proper nouns.
// User data is named in no English word (Zorblax, Quux).
func TestNoEnglishLeaks(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	ctx := context.Background()
	s.CreateUser(t, "quux", store.RoleLinguist, "quux-password-1")
	lena := s.CreateUser(t, "lena", store.RoleLinguist, "lena-password-1")
	const redirect = "https://app.example/cb"
	c, _, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: adminOrg(t, s), Name: "Zorblax", RedirectURIs: []string{redirect},
		Scopes: []string{"openid", "profile", "read", "write"}})
	if err != nil {
		t.Fatal(err)
	}
	authorize := "/oauth/authorize?" + url.Values{"client_id": {c.ID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid profile read write"}, "state": {"s"}}.Encode()

	en := catalog(t, "en")
	frags := englishFragments(en)
	var sameAsEnglish map[string][]string
	raw, err := os.ReadFile(filepath.Join("..", "..", "kit", "i18n", "testdata", "same_as_english.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lists map[string]any
	if err := json.Unmarshal(raw, &lists); err != nil {
		t.Fatal(err)
	}
	sameAsEnglish = map[string][]string{}
	for lang, l := range lists {
		if keys, ok := l.([]any); ok {
			for _, k := range keys {
				sameAsEnglish[lang] = append(sameAsEnglish[lang], k.(string))
			}
		}
	}
	for _, lang := range []string{"de", "fr", "es", "it", "pt-BR", "pl", "cs", "ja", "zh-Hans"} {
		t.Run(lang, func(t *testing.T) {
			// The language's own words exempt an English fragment (German
			// says Token too), but not a value copied from English unless
			// the catalog lists it as rightly the same.
			cat := catalog(t, lang)
			var own strings.Builder
			for k, v := range cat {
				if v != en[k] || slices.Contains(sameAsEnglish[lang], k) {
					own.WriteString(v + "\n")
				}
			}
			ownText := own.String()
			check := func(who, what string, p *oauthflow.Page) {
				t.Helper()
				if !strings.Contains(p.Body, `<html lang="`+lang+`">`) {
					t.Errorf("%s %s: %d, not in %s: %.300s", who, what, p.Status, lang, p.Body)
					return
				}
				text := visibleText(p.Body)
				var leaks []string
				for f, key := range frags {
					if slices.Contains(properNouns, f) || containsWord(ownText, f) {
						continue
					}
					if containsWord(text, f) {
						leaks = append(leaks, key+": "+f)
					}
				}
				slices.Sort(leaks)
				if len(leaks) > 0 {
					t.Errorf("%s %s (%d) shows English: %q", who, what, p.Status, leaks)
				}
			}
			get := func(who string, b *oauthflow.Browser, path string) {
				t.Helper()
				check(who, "GET "+path, b.Get(t, path))
			}
			post := func(who string, b *oauthflow.Browser, formPage, path string, form url.Values) {
				t.Helper()
				form.Set("csrf_token", appsCSRF(t, b, formPage))
				p := follow(t, b, b.Post(t, path, form))
				if p.Status < 400 || !strings.Contains(p.Body, `role="alert"`) {
					t.Errorf("%s POST %s: %d, no validation error shown", who, path, p.Status)
				}
				check(who, "POST "+path, p)
			}

			anon := oauthflow.New(t, s.URL)
			setLanguage(t, anon, "/login", lang)
			for _, path := range []string{"/login", "/forgot-password", "/reset-password?token=nope",
				"/login?next=" + url.QueryEscape(authorize)} {
				get("signed out", anon, path)
			}
			form := oauthflow.HiddenFields(anon.Get(t, "/login").Body)
			form.Set("username", "quux")
			form.Set("password", "wrong")
			check("signed out", "failed sign-in", anon.Post(t, "/login", form))

			ling := oauthflow.New(t, s.URL)
			ling.Login(t, "lena", "lena-password-1")
			setLanguage(t, ling, "/", lang)
			for _, path := range []string{"/", "/settings/authorized-apps", "/settings/access-tokens", "/settings/two-factor",
				"/settings/sessions", "/settings/profile", "/settings/password", "/logout", "/settings/users", authorize} {
				get("linguist", ling, path)
			}
			post("linguist", ling, "/settings/access-tokens", "/settings/access-tokens", url.Values{"name": {""}})
			post("linguist", ling, "/settings/password", "/settings/password", url.Values{"current_password": {"lena-password-1"}, "new_password": {"short"}})
			post("linguist", ling, "/settings/password", "/settings/password", url.Values{"current_password": {"lena-password-1"}, "new_password": {"lena-password-1"}})
			post("linguist", ling, "/settings/profile", "/settings/profile", url.Values{"email": {"not an address"}})
			post("linguist", ling, "/settings/two-factor", "/settings/two-factor/enable", url.Values{"code": {"000000"}, "password": {"lena-password-1"}})

			adm := appsAdmin(t, s)
			setLanguage(t, adm, "/", lang)
			for _, path := range []string{"/", "/settings/oauth-apps", "/settings/oauth-apps/new", "/settings/oauth-apps/" + c.ID,
				"/settings/oauth-apps/" + c.ID + "/rotate-secret", "/settings/oauth-apps/" + c.ID + "/delete", "/settings/api-keys",
				"/settings/users", "/settings/users/" + lena.UID + "/edit", "/settings/audit", "/settings/oauth-apps/nope"} {
				get("admin", adm, path)
			}
			post("admin", adm, "/settings/oauth-apps/new", "/settings/oauth-apps/new", appsForm("", "Zorblax", nil))
			post("admin", adm, "/settings/oauth-apps/new", "/settings/oauth-apps/new", appsForm("", "Quux", url.Values{"redirect_uris": {"http://evil.example/cb"}}))
			post("admin", adm, "/settings/oauth-apps/new", "/settings/oauth-apps/new", appsForm("", "Quux", url.Values{"scopes": {"root"}}))
			post("admin", adm, "/settings/users", "/settings/users", url.Values{"username": {"bad name"}, "email": {"x"}, "role": {"LINGUIST"}})
			post("admin", adm, "/settings/api-keys", "/settings/api-keys", url.Values{"user": {"nobody"}})
		})
	}
}
