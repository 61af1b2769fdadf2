// Package i18n holds the web UI's message catalogs and picks one per
// request. Catalogs are flat JSON files named by BCP 47 tag (en.json,
// de.json…): the embedded ones plus any in a configured directory, so
// adding a language needs a file, not code. A catalog is offered only when
// it is complete (SPEC §5): one that lacks a key of the English catalog
// would show English inside another language.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
	"golang.org/x/text/message"
)

//go:embed locales/*.json
var embedded embed.FS

// Fallback is the language used when nothing else matches; its catalog must
// hold every key.
var Fallback = language.English

// Catalogs is a set of message catalogs.
type Catalogs struct {
	tags     []language.Tag // the offered (complete) catalogs, fallback first
	messages map[language.Tag]map[string]string
	printers map[language.Tag]*message.Printer
	matcher  language.Matcher
	// incomplete lists the catalogs not offered, each with the keys it
	// lacks.
	incomplete map[language.Tag][]string
}

// Load reads the embedded catalogs and then extra (may be nil), whose
// files override keys of an embedded language or add languages. Catalogs
// that lack a key of the fallback's are loaded but not offered: see
// Incomplete.
func Load(extra fs.FS) (*Catalogs, error) {
	c := &Catalogs{messages: map[language.Tag]map[string]string{}, printers: map[language.Tag]*message.Printer{},
		incomplete: map[language.Tag][]string{}}
	sub, _ := fs.Sub(embedded, "locales")
	if err := c.add(sub); err != nil {
		return nil, err
	}
	if extra != nil {
		if err := c.add(extra); err != nil {
			return nil, err
		}
	}
	if _, ok := c.messages[Fallback]; !ok {
		return nil, fmt.Errorf("i18n: no catalog for %s", Fallback)
	}
	// The fallback goes first: the matcher returns it when nothing fits.
	c.tags = []language.Tag{Fallback}
	var others []language.Tag
	for t, m := range c.messages {
		if t == Fallback {
			continue
		}
		var missing []string
		for k := range c.messages[Fallback] {
			if _, ok := m[k]; !ok {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			c.incomplete[t] = missing
			continue
		}
		others = append(others, t)
	}
	sort.Slice(others, func(i, j int) bool { return others[i].String() < others[j].String() })
	c.tags = append(c.tags, others...)
	c.matcher = language.NewMatcher(c.tags)
	for _, t := range c.tags {
		c.printers[t] = message.NewPrinter(t)
	}
	return c, nil
}

// Incomplete returns the catalogs that are not offered, each with the keys
// it lacks, so that the server can say why a language is missing.
func (c *Catalogs) Incomplete() map[language.Tag][]string {
	out := map[language.Tag][]string{}
	for t, keys := range c.incomplete {
		out[t] = append([]string(nil), keys...)
	}
	return out
}

func (c *Catalogs) add(fsys fs.FS) error {
	files, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return err
	}
	for _, f := range files {
		tag, err := language.Parse(strings.TrimSuffix(path.Base(f), ".json"))
		if err != nil {
			return fmt.Errorf("i18n: %s: file name is not a language tag: %w", f, err)
		}
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return err
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("i18n: %s: %w", f, err)
		}
		// A file for a language already loaded overrides its keys one by
		// one, so a local wording change needs only the changed keys.
		if old, ok := c.messages[tag]; ok {
			for k, v := range m {
				old[k] = v
			}
			continue
		}
		c.messages[tag] = m
	}
	return nil
}

// Languages lists the offered languages, fallback first.
func (c *Catalogs) Languages() []language.Tag { return append([]language.Tag(nil), c.tags...) }

// Keys returns the keys of one language's catalog, sorted.
func (c *Catalogs) Keys(t language.Tag) []string {
	var keys []string
	for k := range c.messages[t] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Match picks the best language for the preferences given in order (each
// an explicit tag list such as ui_locales, a cookie value, or an
// Accept-Language header); the first that matches a catalog wins.
func (c *Catalogs) Match(prefs ...string) Localizer {
	for _, p := range prefs {
		if p == "" {
			continue
		}
		tags, _, err := language.ParseAcceptLanguage(strings.ReplaceAll(p, " ", ","))
		if err != nil || len(tags) == 0 {
			continue
		}
		_, idx, conf := c.matcher.Match(tags...)
		if conf != language.No {
			return Localizer{tag: c.tags[idx], c: c}
		}
	}
	return Localizer{tag: Fallback, c: c}
}

// Localizer translates into one language.
type Localizer struct {
	tag language.Tag
	c   *Catalogs
}

// Tag is the chosen language.
func (l Localizer) Tag() language.Tag { return l.tag }

// T returns the message for key, formatted with args (fmt verbs), falling
// back to English and then to the key itself. Numbers are formatted in the
// language's way (1,234 in English, 1.234 in German).
func (l Localizer) T(key string, args ...any) string {
	msg, ok := l.c.messages[l.tag][key]
	if !ok {
		msg, ok = l.c.messages[Fallback][key]
	}
	if !ok {
		msg = key
	}
	if len(args) > 0 {
		if p := l.c.printers[l.tag]; p != nil {
			return p.Sprintf(msg, args...)
		}
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// DateTime formats t in UTC in the language's layout (catalog key
// format.datetime, a Go time layout).
func (l Localizer) DateTime(t time.Time) string {
	return t.UTC().Format(l.T("format.datetime"))
}

// Date formats t's UTC day in the language's layout (format.date).
func (l Localizer) Date(t time.Time) string {
	return t.UTC().Format(l.T("format.date"))
}

// Number formats n with the language's digit grouping.
func (l Localizer) Number(n int) string {
	if p := l.c.printers[l.tag]; p != nil {
		return p.Sprint(n)
	}
	return fmt.Sprint(n)
}

// Name is a language's name in that language itself ("Deutsch",
// "日本語"), capitalised as it starts a menu entry, for a language menu.
func Name(t language.Tag) string {
	name := display.Self.Name(t)
	if name == "" {
		return t.String()
	}
	// CLDR names pt-BR plainly "português", as Brazil is Portuguese's
	// default region; a menu that might also list pt-PT names the region.
	if reg, conf := t.Region(); conf == language.Exact && !strings.Contains(name, "(") {
		if rn := display.Regions(t).Name(reg); rn != "" {
			name += " (" + rn + ")"
		}
	}
	r, n := utf8.DecodeRuneInString(name)
	return string(unicode.ToUpper(r)) + name[n:]
}
