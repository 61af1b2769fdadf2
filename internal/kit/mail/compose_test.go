package mail

import (
	"errors"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/i18n"
)

func catalogs(t *testing.T) *i18n.Catalogs {
	t.Helper()
	c, err := i18n.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEveryKindRendersInEveryLanguage(t *testing.T) {
	cats := catalogs(t)
	c, err := newComposer(cats)
	if err != nil {
		t.Fatal(err)
	}
	link := "https://id.example.com/reset-password?token=tolk_rt_Secret123&lang=x"
	expires := time.Date(2027, 3, 4, 5, 6, 0, 0, time.UTC)
	for _, lang := range cats.Languages() {
		for _, kind := range Kinds() {
			t.Run(lang.String()+"/"+string(kind), func(t *testing.T) {
				got, err := c.compose(Message{Kind: kind, To: "ana@example.com", Name: "Ana <b>", Username: "ana",
					Language: lang.String(), Link: link, Expires: expires})
				if err != nil {
					t.Fatal(err)
				}
				l := cats.Match(lang.String())
				if got.Lang != lang.String() || got.Subject != l.T("mail."+string(kind)+".subject") {
					t.Errorf("language %q subject %q", got.Lang, got.Subject)
				}
				when := expires.Format(l.T("mail.time_layout"))
				for part, body := range map[string]string{"text": got.Text, "html": got.HTML} {
					if strings.Contains(body, "mail.") {
						t.Errorf("%s part shows a catalog key:\n%s", part, body)
					}
					if !strings.Contains(body, "ana") || !strings.Contains(body, when) {
						t.Errorf("%s part lacks the account or the expiry %q:\n%s", part, when, body)
					}
				}
				if !strings.Contains(got.Text, "\n"+link+"\n") || !strings.Contains(got.Text, "Ana <b>") {
					t.Errorf("text part lacks the link on a line of its own or the name:\n%s", got.Text)
				}
				if !strings.Contains(got.HTML, `href="`+html.EscapeString(link)+`"`) {
					t.Errorf("HTML part lacks the link:\n%s", got.HTML)
				}
				if strings.Contains(got.HTML, "<b>") || !strings.Contains(got.HTML, "Ana &lt;b&gt;") {
					t.Errorf("HTML part does not escape the name:\n%s", got.HTML)
				}
			})
		}
	}
}

func TestGermanMailIsGerman(t *testing.T) {
	c, err := newComposer(catalogs(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.compose(Message{Kind: PasswordReset, Username: "ana", Language: "de-DE,de;q=0.9",
		Link: "https://id.example.com/r?token=x", Expires: time.Date(2027, 3, 4, 5, 6, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Lang != "de" || got.Subject != "Passwort zurücksetzen" || !strings.Contains(got.Text, "04.03.2027, 05:06 UTC") {
		t.Fatalf("not German: %q %q\n%s", got.Lang, got.Subject, got.Text)
	}
}

func TestComposeRefusesMessagesItCannotRender(t *testing.T) {
	c, err := newComposer(catalogs(t))
	if err != nil {
		t.Fatal(err)
	}
	ok := Message{Kind: Invitation, Link: "https://id.example.com/r?token=x", Expires: time.Now()}
	if _, err := c.compose(ok); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*Message){
		"unknown kind":      func(m *Message) { m.Kind = "welcome" },
		"script link":       func(m *Message) { m.Link = "javascript:alert(1)" },
		"relative link":     func(m *Message) { m.Link = "/reset-password?token=x" },
		"no expiry":         func(m *Message) { m.Expires = time.Time{} },
		"link not a URL":    func(m *Message) { m.Link = "https://[::1" },
		"link without host": func(m *Message) { m.Link = "https:///r" },
	} {
		m := ok
		change(&m)
		if _, err := c.compose(m); err == nil {
			t.Errorf("%s: composed", name)
		}
	}
}

func TestScrubKeepsOnlyTheRecipientDomain(t *testing.T) {
	err := errors.New("550 5.1.1 <Ana.Lima@Example.com>: recipient rejected; ana.lima@example.com unknown")
	got := scrub(err, "Ana Lima <ana.lima@example.com>")
	if strings.Contains(strings.ToLower(got), "ana.lima") || strings.Count(got, "…@example.com") != 2 {
		t.Fatalf("scrub = %q", got)
	}
	if d := domainOf("Ana <ana@Sub.Example.COM>"); d != "sub.example.com" {
		t.Fatalf("domainOf = %q", d)
	}
}

func TestParseURL(t *testing.T) {
	s, err := parseURL("smtps://u%40x:p%3Ass@mail.example.com:465", nil)
	if err != nil || !s.implicitTLS || s.host != "mail.example.com" || s.port != 465 || s.user != "u@x" || s.pass != "p:ss" ||
		s.tls.ServerName != "mail.example.com" {
		t.Fatalf("%v %+v", err, s)
	}
	for _, bad := range []string{"", "http://x:25", "smtp://x", "smtp://:25", "smtp://x:0", "smtp://x:99999", "smtp://user:hunter2@x", "smtp://x:25/path", "smtp://x:25?tls=no"} {
		_, err := parseURL(bad, nil)
		if err == nil {
			t.Errorf("%q: accepted", bad)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: error repeats the password: %v", bad, err)
		}
	}
}
