package i18n

import (
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/text/language"
)

// shipped are the catalogs tolk ships; each must be complete.
var shipped = []string{"cs", "de", "en", "es", "fr", "it", "ja", "pl", "pt-BR", "zh-Hans"}

// TestEveryCatalogHasEveryKey: every shipped catalog holds every key of
// the English one (and no other), so every one of them is offered.
func TestEveryCatalogHasEveryKey(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	for tag, missing := range c.Incomplete() {
		t.Errorf("catalog %s lacks %d keys, so it is not offered: %v", tag, len(missing), missing)
	}
	var offered []string
	for _, tag := range c.Languages() {
		offered = append(offered, tag.String())
	}
	slices.Sort(offered)
	if !slices.Equal(offered, shipped) {
		t.Errorf("offered languages %v, want %v", offered, shipped)
	}
	want := c.Keys(Fallback)
	for tag := range c.messages {
		for _, k := range c.Keys(tag) {
			if _, ok := c.messages[Fallback][k]; !ok {
				t.Errorf("catalog %s has key %s, which English has not", tag, k)
			}
		}
		if tag != Fallback && len(c.Keys(tag)) < len(want) && c.incomplete[tag] == nil {
			t.Errorf("catalog %s is short but offered", tag)
		}
	}
}

// verb is one fmt verb of a message: %s, %d, %[2]s…
var verb = regexp.MustCompile(`%(\[(\d+)\])?[-+# 0]*\d*(\.\d+)?([a-zA-Z%])`)

// placeholders maps each argument a message formats (1-based, as fmt's
// explicit indexes count) to the verb letter that formats it.
func placeholders(msg string) map[int]string {
	out := map[int]string{}
	next := 1
	for _, m := range verb.FindAllStringSubmatch(msg, -1) {
		if m[4] == "%" {
			continue
		}
		if m[2] != "" {
			next, _ = strconv.Atoi(m[2])
		}
		out[next] += m[4]
		next++
	}
	return out
}

// TestEveryCatalogHasTheSamePlaceholders: a translation formats the same
// arguments with the same verbs as English (in any order, through
// explicit indexes), and has no verb English lacks; a layout key is a Go
// time layout that keeps the hour, minute and time zone.
func TestEveryCatalogHasTheSamePlaceholders(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	en := c.messages[Fallback]
	for tag, m := range c.messages {
		for k, v := range m {
			want := placeholders(en[k])
			if got := placeholders(v); !maps.Equal(got, want) {
				t.Errorf("%s %s: placeholders %v, English has %v: %q", tag, k, got, want, v)
			}
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s %s: empty", tag, k)
			}
		}
		for _, k := range []string{"mail.time_layout", "format.datetime"} {
			at := time.Date(2031, 11, 22, 13, 45, 56, 0, time.UTC)
			s := at.Format(m[k])
			for _, part := range []string{"2031", "22", "13", "45", "UTC"} {
				if !strings.Contains(s, part) {
					t.Errorf("%s %s: %q formats %s as %q, without %s", tag, k, m[k], at, s, part)
				}
			}
		}
		if s := time.Date(2031, 11, 22, 0, 0, 0, 0, time.UTC).Format(m["format.date"]); !strings.Contains(s, "2031") || !strings.Contains(s, "22") || !strings.Contains(s, "11") {
			t.Errorf("%s format.date %q formats as %q", tag, m["format.date"], s)
		}
	}
}

// TestTypographicApostrophes: French and Italian elide with an apostrophe
// in nearly every sentence, and their catalogs write it typographically
// (d’accès, l’app); a straight one between letters is a slip that shows
// on the page beside the others.
func TestTypographicApostrophes(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	straight := regexp.MustCompile(`\p{L}'\p{L}`)
	for tag, m := range c.messages {
		if b, _ := tag.Base(); b.String() != "fr" && b.String() != "it" {
			continue
		}
		for k, v := range m {
			if straight.MatchString(v) {
				t.Errorf("%s %s: a straight apostrophe: %q", tag, k, v)
			}
		}
	}
}

// TestTranslationsDifferFromEnglish: no catalog copies an English text
// but the few listed in testdata/same_as_english.json, which the language
// rightly says alike ("Token", "Status"): a copy is a key left
// untranslated.
func TestTranslationsDifferFromEnglish(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/same_as_english.json")
	if err != nil {
		t.Fatal(err)
	}
	same := map[string]any{}
	if err := json.Unmarshal(raw, &same); err != nil {
		t.Fatal(err)
	}
	en := c.messages[Fallback]
	for tag, m := range c.messages {
		if tag == Fallback {
			continue
		}
		var allowed []string
		if list, ok := same[tag.String()].([]any); ok {
			for _, k := range list {
				allowed = append(allowed, k.(string))
			}
		} else {
			t.Errorf("testdata/same_as_english.json has no list for %s", tag)
		}
		for k, v := range m {
			if v == en[k] && !strings.HasPrefix(k, "format.") && k != "mail.time_layout" && k != "app.name" && !slices.Contains(allowed, k) {
				t.Errorf("%s %s is the English text %q: translate it (or list it in testdata/same_as_english.json)", tag, k, v)
			}
		}
	}
}

func TestPlaceholders(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want map[int]string
	}{
		{"none", map[int]string{}},
		{"%s on %s", map[int]string{1: "s", 2: "s"}},
		{"%[2]s で %[1]s", map[int]string{1: "s", 2: "s"}},
		{"Page %d of %d, 100%%", map[int]string{1: "d", 2: "d"}},
	} {
		if got := placeholders(tc.msg); !maps.Equal(got, tc.want) {
			t.Errorf("placeholders(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		prefs []string
		want  string
	}{
		{"nothing", nil, "Sign in"},
		{"accept-language de", []string{"", "", "de-DE,de;q=0.9,en;q=0.5"}, "Anmelden"},
		{"unknown language falls back", []string{"sv"}, "Sign in"},
		{"ui_locales wins over header", []string{"en", "de"}, "Sign in"},
		{"ui_locales space separated", []string{"sv de"}, "Anmelden"},
		{"garbage ignored", []string{"!!!", "de"}, "Anmelden"},
		{"Brazilian Portuguese", []string{"pt-BR"}, "Entrar"},
		{"Portuguese of Portugal gets Brazil's", []string{"pt-PT"}, "Entrar"},
		{"Chinese of China is Simplified", []string{"zh-CN"}, "登录"},
		{"Japanese", []string{"ja-JP"}, "サインイン"},
		{"Czech", []string{"cs"}, "Přihlásit se"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Match(tc.prefs...).T("login.submit"); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAddingALanguageNeedsOnlyAFile: a complete catalog in the extra
// directory is offered; an incomplete one is not (SPEC §5: a catalog is
// complete or it is not offered); a file for a shipped language overrides
// single keys.
func TestAddingALanguageNeedsOnlyAFile(t *testing.T) {
	base, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	var full strings.Builder
	full.WriteString("{")
	for i, k := range base.Keys(Fallback) {
		if i > 0 {
			full.WriteString(",")
		}
		v := "nl:" + base.messages[Fallback][k]
		if strings.HasPrefix(k, "format.") || k == "mail.time_layout" {
			v = base.messages[Fallback][k]
		}
		full.WriteString(strconv.Quote(k) + ":" + strconv.Quote(v))
	}
	full.WriteString("}")
	extra := fstest.MapFS{
		"nl.json": {Data: []byte(full.String())},
		"sv.json": {Data: []byte(`{"login.submit":"Logga in"}`)},
		"de.json": {Data: []byte(`{"login.submit":"Einloggen"}`)},
	}
	c, err := Load(extra)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Match("nl-NL")
	if l.Tag() != language.Dutch || l.T("login.submit") != "nl:Sign in" {
		t.Fatalf("complete catalog: got %s %q", l.Tag(), l.T("login.submit"))
	}
	if l := c.Match("sv"); l.Tag() != Fallback {
		t.Fatalf("incomplete sv catalog offered: %s", l.Tag())
	}
	if missing := c.Incomplete()[language.Swedish]; len(missing) == 0 {
		t.Fatal("Incomplete does not name sv")
	}
	de := c.Match("de")
	if de.T("login.submit") != "Einloggen" || de.T("login.username") != "Benutzername" {
		t.Fatalf("override: %q %q", de.T("login.submit"), de.T("login.username"))
	}
	if got := c.Match("en").T("home.welcome", "ana"); got != "Signed in as ana" {
		t.Fatalf("formatting: %q", got)
	}
	if c.Match("en").T("no.such.key") != "no.such.key" {
		t.Fatal("fallback to the key broken")
	}
}

// TestDatesAndNumbersFollowTheLanguage: dates in each language's layout,
// numbers with its digit grouping, in messages too.
func TestDatesAndNumbersFollowTheLanguage(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2031, 11, 2, 13, 45, 6, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		lang, dateTime, date, number, page string
	}{
		{"en", "2031-11-02 12:45:06 UTC", "2031-11-02", "12,345", "Page 1,234 of 5,678"},
		{"de", "02.11.2031, 12:45:06 UTC", "02.11.2031", "12.345", "Seite 1.234 von 5.678"},
		{"fr", "02/11/2031 12:45:06 UTC", "02/11/2031", "12\u00a0345", "Page 1\u00a0234 sur 5\u00a0678"},
		{"cs", "2. 11. 2031 12:45:06 UTC", "2. 11. 2031", "12\u00a0345", "Stránka 1\u00a0234 z 5\u00a0678"},
		{"ja", "2031/11/02 12:45:06 UTC", "2031/11/02", "12,345", "1,234 / 5,678 ページ"},
	} {
		l := c.Match(tc.lang)
		if got := l.DateTime(at); got != tc.dateTime {
			t.Errorf("%s DateTime = %q, want %q", tc.lang, got, tc.dateTime)
		}
		if got := l.Date(at); got != tc.date {
			t.Errorf("%s Date = %q, want %q", tc.lang, got, tc.date)
		}
		if got := l.Number(12345); got != tc.number {
			t.Errorf("%s Number = %q, want %q", tc.lang, got, tc.number)
		}
		if got := l.T("users.page_of", 1234, 5678); got != tc.page {
			t.Errorf("%s page_of = %q, want %q", tc.lang, got, tc.page)
		}
	}
}

func TestLanguageNames(t *testing.T) {
	for tag, want := range map[string]string{"en": "English", "de": "Deutsch", "pt-BR": "Português (Brasil)",
		"cs": "Čeština", "ja": "日本語", "zh-Hans": "简体中文"} {
		if got := Name(language.MustParse(tag)); got != want {
			t.Errorf("Name(%s) = %q, want %q", tag, got, want)
		}
	}
}

func TestBadCatalogFileIsAnError(t *testing.T) {
	if _, err := Load(fstest.MapFS{"xx-notatag-123456789.json": {Data: []byte(`{}`)}}); err == nil {
		t.Fatal("want error for a file name that is not a tag")
	}
	if _, err := Load(fstest.MapFS{"fr.json": {Data: []byte(`{`)}}); err == nil {
		t.Fatal("want error for bad JSON")
	}
}
