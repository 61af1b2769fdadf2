// Package i18n holds the web UI's message catalogs and picks one per
// request. Catalogs are flat JSON files named by BCP 47 tag (en.json,
// de.json…): the embedded ones plus any in a configured directory, so
// adding a language needs a file, not code.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

//go:embed locales/*.json
var embedded embed.FS

// Fallback is the language used when nothing else matches; its catalog must
// hold every key.
var Fallback = language.English

// Catalogs is a set of message catalogs.
type Catalogs struct {
	tags     []language.Tag
	messages map[language.Tag]map[string]string
	matcher  language.Matcher
}

// Load reads the embedded catalogs and then extra (may be nil), whose
// files override or add languages.
func Load(extra fs.FS) (*Catalogs, error) {
	c := &Catalogs{messages: map[language.Tag]map[string]string{}}
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
	for t := range c.messages {
		if t != Fallback {
			others = append(others, t)
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].String() < others[j].String() })
	c.tags = append(c.tags, others...)
	c.matcher = language.NewMatcher(c.tags)
	return c, nil
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
		c.messages[tag] = m
	}
	return nil
}

// Languages lists the available languages, fallback first.
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
// back to English and then to the key itself.
func (l Localizer) T(key string, args ...any) string {
	msg, ok := l.c.messages[l.tag][key]
	if !ok {
		msg, ok = l.c.messages[Fallback][key]
	}
	if !ok {
		msg = key
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}
