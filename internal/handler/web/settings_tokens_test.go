package web_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

var newTokenRE = regexp.MustCompile(`<input id="new-token" type="text" readonly[^>]*value="([^"]+)"`)

// tokensUser signs in a fresh LINGUIST (the page is for every user).
func tokensUser(t *testing.T, s *tolktest.Server, name string) (*oauthflow.Browser, store.User) {
	t.Helper()
	u := s.CreateUser(t, name, store.RoleLinguist, "pw-"+name+"-long-enough")
	b := oauthflow.New(t, s.URL)
	b.Login(t, name, "pw-"+name+"-long-enough")
	return b, u
}

func createToken(t *testing.T, b *oauthflow.Browser, name, expires string) *oauthflow.Page {
	t.Helper()
	csrf := appsCSRF(t, b, "/settings/access-tokens")
	return follow(t, b, b.Post(t, "/settings/access-tokens", url.Values{"csrf_token": {csrf}, "name": {name}, "expires": {expires}}))
}

// follow follows a post's 303 (post/redirect/get) to the page it names.
func follow(t *testing.T, b *oauthflow.Browser, p *oauthflow.Page) *oauthflow.Page {
	t.Helper()
	if p.Status != http.StatusSeeOther {
		return p
	}
	return b.Get(t, p.Location.RequestURI())
}

func listTokens(t *testing.T, s *tolktest.Server, uid string) []store.PlatformToken {
	t.Helper()
	ts, err := s.Store.ListPlatformTokens(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestAccessTokensPage(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b, _ := tokensUser(t, s, "lena")
	p := b.Get(t, "/settings/access-tokens")
	if p.Status != http.StatusOK {
		t.Fatalf("GET: %d", p.Status)
	}
	for _, label := range []string{"Name", "Expiry date (optional)"} {
		if !labelled(p.Body, label) {
			t.Errorf("no control labelled %q", label)
		}
	}
	if !button(p.Body, "Create token") {
		t.Error("no Create token button")
	}
	if !strings.Contains(p.Body, `<a href="/settings/access-tokens" aria-current="page">Access Tokens</a>`) {
		t.Error("no Access Tokens link in the navigation")
	}
	if !strings.Contains(p.Body, "You have no access tokens.") {
		t.Error("empty list not announced")
	}
	// German.
	de := b.Get(t, "/settings/access-tokens?ui_locales=de")
	if !button(de.Body, "Token erstellen") || !labelled(de.Body, "Ablaufdatum (optional)") {
		t.Error("German page lacks its labels")
	}
	// Signed out: to the login, and back.
	anon := oauthflow.New(t, s.URL).Get(t, "/settings/access-tokens")
	if anon.Status != http.StatusSeeOther || anon.Location.Path != "/login" || anon.Location.Query().Get("next") != "/settings/access-tokens" {
		t.Errorf("signed out: %d %v", anon.Status, anon.Location)
	}
}

func TestAccessTokensCreateShownOnce(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b, u := tokensUser(t, s, "mara")
	p := createToken(t, b, "Nightly sync", "")
	if p.Status != http.StatusOK {
		t.Fatalf("create: %d %s", p.Status, p.Body)
	}
	m := newTokenRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("the new token is not on the page:\n%s", p.Body)
	}
	tok := html.UnescapeString(m[1])
	if !strings.HasPrefix(tok, "tolk_pt_") || len(tok) != len("tolk_pt_")+49 {
		t.Errorf("token %q: want tolk_pt_ + 49 characters", tok)
	}
	if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if !labelled(p.Body, "Token") || !strings.Contains(p.Body, `data-copy="new-token"`) || !strings.Contains(p.Body, `<script src="/static/copy.js" defer></script>`) {
		t.Error("the token has no label or no copy button")
	}
	ts := listTokens(t, s, u.UID)
	if len(ts) != 1 || ts[0].Name != "Nightly sync" || ts[0].LastEight != tok[len(tok)-8:] || ts[0].Hash == tok || !ts[0].ExpiresAt.IsZero() {
		t.Fatalf("stored = %+v", ts)
	}
	// Shown once: the list shows the last eight, never the token.
	again := b.Get(t, "/settings/access-tokens")
	if strings.Contains(again.Body, tok) {
		t.Error("the token is shown again")
	}
	if !strings.Contains(again.Body, "…"+tok[len(tok)-8:]) || !strings.Contains(again.Body, "Nightly sync") {
		t.Error("the list lacks the token's name or last eight characters")
	}
	// The script exists and is served as JavaScript.
	js := b.Get(t, "/static/copy.js")
	if js.Status != http.StatusOK || !strings.Contains(js.Header.Get("Content-Type"), "javascript") {
		t.Errorf("copy.js: %d %s", js.Status, js.Header.Get("Content-Type"))
	}
	// And it works at the token endpoint.
	resp, err := http.PostForm(s.URL+"/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK || out["access_token"] == nil {
		t.Errorf("exchange of the UI's token: %d %v", resp.StatusCode, out)
	}
	// Last used now shows.
	if after := b.Get(t, "/settings/access-tokens"); strings.Contains(after.Body, ">Never</td>\n<td>Never") {
		t.Error("last used still Never after an exchange")
	}
}

func TestAccessTokensExpiry(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b, u := tokensUser(t, s, "nora")
	today := s.Clock.Now().UTC()
	p := createToken(t, b, "Until tomorrow", today.AddDate(0, 0, 1).Format("2006-01-02"))
	if p.Status != http.StatusOK {
		t.Fatalf("create: %d", p.Status)
	}
	ts := listTokens(t, s, u.UID)
	want := time.Date(today.Year(), today.Month(), today.Day()+2, 0, 0, 0, 0, time.UTC)
	if len(ts) != 1 || !ts[0].ExpiresAt.Equal(want) {
		t.Fatalf("expires = %v, want %v (the end of the chosen day)", ts, want)
	}
	if !strings.Contains(b.Get(t, "/settings/access-tokens").Body, want.Format(time.DateTime+" UTC")) {
		t.Error("the list does not show the expiry")
	}
}

func TestAccessTokensValidation(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b, u := tokensUser(t, s, "olga")
	yesterday := s.Clock.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	tests := []struct {
		name, tokName, expires string
		status                 int
		msg                    string
	}{
		{"no name", "  ", "", 400, "Enter a name for the token."},
		{"long name", strings.Repeat("x", 101), "", 400, "The name is too long"},
		{"control characters", "a\x07b", "", 400, "characters that are not allowed"},
		{"past expiry", "old", yesterday, 400, "The expiry date must be today or later."},
		{"bad date", "bad", "31.12.2030", 400, "YYYY-MM-DD"},
	}
	for _, tt := range tests {
		p := createToken(t, b, tt.tokName, tt.expires)
		if p.Status != tt.status || !strings.Contains(p.Body, tt.msg) || !strings.Contains(p.Body, `aria-invalid="true"`) {
			t.Errorf("%s: %d, message or aria-invalid missing", tt.name, p.Status)
		}
		if newTokenRE.MatchString(p.Body) {
			t.Errorf("%s: a token was shown", tt.name)
		}
	}
	// Without the CSRF token nothing is created.
	if p := b.Post(t, "/settings/access-tokens", url.Values{"name": {"sneaky"}}); p.Status != http.StatusForbidden {
		t.Errorf("create without CSRF: %d", p.Status)
	}
	if ts := listTokens(t, s, u.UID); len(ts) != 0 {
		t.Errorf("tokens created by invalid forms: %+v", ts)
	}
}

func TestAccessTokensRevoke(t *testing.T) {
	t.Parallel()
	s := tolktest.New(t)
	b, u := tokensUser(t, s, "pia")
	mallory, _ := tokensUser(t, s, "mallory")
	createToken(t, b, "Mine", "")
	mine := listTokens(t, s, u.UID)[0]
	path := "/settings/access-tokens/" + mine.ID + "/revoke"

	// Another user can neither see nor revoke it.
	if strings.Contains(mallory.Get(t, "/settings/access-tokens").Body, mine.LastEight) {
		t.Error("another user sees the token")
	}
	if p := mallory.Post(t, path, url.Values{"csrf_token": {appsCSRF(t, mallory, "/settings/access-tokens")}}); p.Status != http.StatusNotFound {
		t.Errorf("another user's revoke: %d, want 404", p.Status)
	}
	// Not without CSRF.
	if p := b.Post(t, path, url.Values{"csrf_token": {"wrong"}}); p.Status != http.StatusForbidden {
		t.Errorf("revoke with a wrong CSRF token: %d, want 403", p.Status)
	}
	if len(listTokens(t, s, u.UID)) != 1 {
		t.Fatal("the token was revoked by a refused request")
	}
	page := b.Get(t, "/settings/access-tokens")
	if !strings.Contains(page.Body, `href="`+path+`"`) || !strings.Contains(page.Body, ">Revoke</a>") {
		t.Error("no Revoke on the list")
	}
	// Revoke asks once more (SPEC §5): the GET and a post without
	// confirm show what goes and change nothing.
	ask := b.Get(t, path)
	if ask.Status != http.StatusOK || !strings.Contains(ask.Body, "Revoke the access token Mine (…"+mine.LastEight+")?") || !button(ask.Body, "Confirm") {
		t.Fatalf("confirmation: %d %s", ask.Status, ask.Body)
	}
	if p := b.Post(t, path, url.Values{"csrf_token": {appsCSRF(t, b, "/settings/access-tokens")}}); p.Status != http.StatusOK || !button(p.Body, "Confirm") {
		t.Errorf("post without confirm: %d", p.Status)
	}
	if len(listTokens(t, s, u.UID)) != 1 {
		t.Fatal("the token was revoked before Confirm")
	}
	p := b.Post(t, path, oauthflow.HiddenFields(ask.Body))
	if p.Status != http.StatusSeeOther || p.Location.RequestURI() != "/settings/access-tokens?done=revoked" {
		t.Fatalf("revoke: %d %v", p.Status, p.Location)
	}
	if ts := listTokens(t, s, u.UID); len(ts) != 0 {
		t.Errorf("after revoke: %+v", ts)
	}
	if done := b.Get(t, p.Location.RequestURI()); !strings.Contains(done.Body, "The token was revoked.") {
		t.Error("no notice after revoking")
	}
	if p := b.Post(t, path, url.Values{"csrf_token": {appsCSRF(t, b, "/settings/access-tokens")}, "confirm": {"1"}}); p.Status != http.StatusNotFound {
		t.Errorf("revoking again: %d, want 404", p.Status)
	}
}
