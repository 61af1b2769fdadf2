package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/tolk-project/tolk/internal/kit/i18n"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// Kind names one kind of mail: a pair of templates (templates/<kind>.txt.tmpl
// and templates/<kind>.html.tmpl) and the catalog keys mail.<kind>.*.
type Kind string

// The kinds of mail tolk sends. Each carries a link that lets the
// recipient choose a password, and the time that link expires.
const (
	PasswordReset Kind = "password_reset" // the user asked at /forgot-password
	Invitation    Kind = "invitation"     // an administrator created the account
	AdminReset    Kind = "admin_reset"    // an administrator asked for a reset
)

// Kinds lists every kind of mail.
func Kinds() []Kind { return []Kind{PasswordReset, Invitation, AdminReset} }

// Message is one mail to send.
type Message struct {
	Kind     Kind
	To       string // the recipient's address
	Name     string // the recipient's name for the greeting; may be empty
	Username string // the account the link is for
	// Language holds the recipient's language preferences as the UI reads
	// them (a BCP 47 tag or an Accept-Language list); empty or unknown: the
	// fallback language.
	Language string
	Link     string    // an absolute http(s) URL; it carries a secret
	Expires  time.Time // when Link stops working
	// Ref is the caller's own reference (a user's uid, say), handed back in
	// the Outcome so the caller knows whose mail it was.
	Ref string
}

// composed is a mail rendered in one language, ready to be addressed.
type composed struct {
	Lang    string // BCP 47 tag of the language used
	Subject string
	Text    string
	HTML    string
}

type templatePair struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// composer renders Messages with the embedded templates and the UI's
// catalogs.
type composer struct {
	catalogs  *i18n.Catalogs
	templates map[Kind]templatePair
}

func newComposer(catalogs *i18n.Catalogs) (*composer, error) {
	c := &composer{catalogs: catalogs, templates: map[Kind]templatePair{}}
	for _, k := range Kinds() {
		text, err := texttemplate.New("layout.txt.tmpl").Option("missingkey=error").
			ParseFS(templateFiles, "templates/layout.txt.tmpl", "templates/"+string(k)+".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("mail: templates of %s: %w", k, err)
		}
		html, err := htmltemplate.New("layout.html.tmpl").Option("missingkey=error").
			ParseFS(templateFiles, "templates/layout.html.tmpl", "templates/"+string(k)+".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("mail: templates of %s: %w", k, err)
		}
		c.templates[k] = templatePair{text: text, html: html}
	}
	return c, nil
}

// view is what the templates see. T translates (fmt verbs, as the UI's
// catalogs use them); html/template escapes what it returns.
type view struct {
	i18n.Localizer
	Lang     string
	Subject  string
	Greeting string
	Username string
	Link     string
	Expires  string // in the language's own layout (catalog key mail.time_layout), UTC
}

// button is the HTML call to action: the link under a translated label.
type button struct{ Link, Label string }

// Button labels the link with the message of key.
func (v view) Button(key string) button { return button{Link: v.Link, Label: v.T(key)} }

func (c *composer) compose(m Message) (composed, error) {
	pair, ok := c.templates[m.Kind]
	if !ok {
		return composed{}, fmt.Errorf("unknown kind of mail %q", m.Kind)
	}
	if u, err := url.Parse(m.Link); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return composed{}, fmt.Errorf("the link of a %s mail is not an absolute http(s) URL", m.Kind)
	}
	if m.Expires.IsZero() {
		return composed{}, fmt.Errorf("a %s mail needs the time its link expires", m.Kind)
	}
	l := c.catalogs.Match(m.Language)
	v := view{
		Localizer: l,
		Lang:      l.Tag().String(),
		Subject:   l.T("mail." + string(m.Kind) + ".subject"),
		Greeting:  l.T("mail.greeting_anonymous"),
		Username:  m.Username,
		Link:      m.Link,
		Expires:   m.Expires.UTC().Format(l.T("mail.time_layout")),
	}
	if name := strings.TrimSpace(m.Name); name != "" {
		v.Greeting = l.T("mail.greeting", name)
	}
	var text, html bytes.Buffer
	if err := pair.text.Execute(&text, v); err != nil {
		return composed{}, fmt.Errorf("mail: text of %s: %w", m.Kind, err)
	}
	if err := pair.html.Execute(&html, v); err != nil {
		return composed{}, fmt.Errorf("mail: HTML of %s: %w", m.Kind, err)
	}
	return composed{Lang: v.Lang, Subject: v.Subject, Text: text.String(), HTML: html.String()}, nil
}
