package i18n

import (
	"reflect"
	"testing"
	"testing/fstest"

	"golang.org/x/text/language"
)

func TestEveryCatalogHasEveryKey(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := c.Keys(Fallback)
	for _, tag := range c.Languages() {
		if got := c.Keys(tag); !reflect.DeepEqual(got, want) {
			t.Errorf("catalog %s keys differ from %s:\n got %v\nwant %v", tag, Fallback, got, want)
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
		{"unknown language falls back", []string{"ja"}, "Sign in"},
		{"ui_locales wins over header", []string{"en", "de"}, "Sign in"},
		{"ui_locales space separated", []string{"fr de"}, "Anmelden"},
		{"garbage ignored", []string{"!!!", "de"}, "Anmelden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Match(tc.prefs...).T("login.submit"); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAddingALanguageNeedsOnlyAFile(t *testing.T) {
	extra := fstest.MapFS{"fr.json": {Data: []byte(`{"login.submit":"Se connecter"}`)}}
	c, err := Load(extra)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Match("fr-FR")
	if l.Tag() != language.French || l.T("login.submit") != "Se connecter" {
		t.Fatalf("got %s %q", l.Tag(), l.T("login.submit"))
	}
	// Missing keys fall back to English, then to the key.
	if l.T("login.username") != "Username" || l.T("no.such.key") != "no.such.key" {
		t.Fatal("fallback broken")
	}
	if got := c.Match("en").T("home.welcome", "ana"); got != "Signed in as ana" {
		t.Fatalf("formatting: %q", got)
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
