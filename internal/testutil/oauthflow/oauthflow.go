// Package oauthflow drives tolk's browser-facing OAuth pages from Go tests
// without a browser: a cookie jar, the real login form, the real consent
// form. It stops at the first redirect that leaves tolk, which is what a
// relying party receives.
package oauthflow

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser is a cookie-keeping HTTP client that does not follow redirects.
type Browser struct {
	Client *http.Client
	Base   string // tolk's base URL
}

// New returns a Browser for the tolk at base.
func New(t testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Base: base, Client: &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Page is a fetched response.
type Page struct {
	Status   int
	Header   http.Header
	Body     string
	Location *url.URL // resolved Location header, if any
	URL      *url.URL // the URL that was fetched
}

func (b *Browser) do(t testing.TB, req *http.Request) *Page {
	t.Helper()
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := &Page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), URL: req.URL}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := req.URL.Parse(loc)
		if err != nil {
			t.Fatalf("bad Location %q: %v", loc, err)
		}
		p.Location = u
	}
	return p
}

// Get fetches a URL (absolute, or a path on tolk).
func (b *Browser) Get(t testing.TB, u string) *Page {
	t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.Base + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(t, req)
}

// Post submits a form the way a same-origin browser form does.
func (b *Browser) Post(t testing.TB, u string, form url.Values) *Page {
	t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.Base + u
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Base)
	return b.do(t, req)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// HiddenFields returns the hidden inputs of a page.
func HiddenFields(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// Login signs in through the real login form.
func (b *Browser) Login(t testing.TB, user, password string) {
	t.Helper()
	p := b.Get(t, "/login")
	if p.Status != http.StatusOK {
		t.Fatalf("GET /login: %d", p.Status)
	}
	form := HiddenFields(p.Body)
	form.Set("username", user)
	form.Set("password", password)
	r := b.Post(t, "/login", form)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("POST /login: %d %s", r.Status, r.Body)
	}
}

// IsTolk reports whether u is on tolk.
func (b *Browser) IsTolk(u *url.URL) bool {
	base, _ := url.Parse(b.Base)
	return u.Host == base.Host
}

// Authorize opens an authorization URL and follows tolk's own redirects.
// On the login page it signs in as user/password (if user is not empty);
// on the consent page it answers consent ("allow" or "deny"; "" stops
// there). It returns the last page: a redirect leaving tolk, a
// form_post page, an error page, or the consent page when consent is "".
func (b *Browser) Authorize(t testing.TB, authURL, user, password, consent string) *Page {
	t.Helper()
	p := b.Get(t, authURL)
	for i := 0; i < 10; i++ {
		switch {
		case p.Location != nil && !b.IsTolk(p.Location):
			return p
		case p.Location != nil && p.Location.Path == "/login" && user != "":
			lp := b.Get(t, p.Location.String())
			if lp.Location != nil { // already signed in: login redirects onward
				p = b.Get(t, lp.Location.String())
				continue
			}
			form := HiddenFields(lp.Body)
			form.Set("username", user)
			form.Set("password", password)
			p = b.Post(t, "/login", form)
			user = "" // sign in once
		case p.Location != nil:
			p = b.Get(t, p.Location.String())
		case p.Status == http.StatusOK && strings.Contains(p.Body, `name="consent_action"`):
			if consent == "" {
				return p
			}
			form := HiddenFields(p.Body)
			form.Set("consent_action", consent)
			p = b.Post(t, "/oauth/authorize", form)
			consent = ""
		default:
			return p
		}
	}
	t.Fatalf("too many redirects from %s", authURL)
	return nil
}

// Params returns the authorization response parameters of a redirect: the
// query, or the fragment for fragment responses.
func Params(u *url.URL) url.Values {
	if u.Fragment != "" {
		// The escaped form: the decoded fragment would split values that
		// contain an encoded & or =.
		v, _ := url.ParseQuery(u.EscapedFragment())
		return v
	}
	return u.Query()
}
