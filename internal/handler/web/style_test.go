package web_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryTemplateClassIsStyled: every CSS class a template uses has a
// rule in the one stylesheet, and the stylesheet defines the design
// system's scales and button kinds (issue 19: seven classes had none).
func TestEveryTemplateClassIsStyled(t *testing.T) {
	css, err := os.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	styled := map[string]bool{}
	for _, m := range regexp.MustCompile(`\.([a-zA-Z][a-zA-Z0-9_-]*)`).FindAllStringSubmatch(string(css), -1) {
		styled[m[1]] = true
	}
	files, err := filepath.Glob("templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v %v", files, err)
	}
	attr := regexp.MustCompile(`class="([^"]*)"`)
	used := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range attr.FindAllStringSubmatch(string(b), -1) {
			// Template actions inside the attribute choose among classes
			// written out in them; the words outside are classes too.
			for _, c := range strings.Fields(regexp.MustCompile(`\{\{[^}]*\}\}`).ReplaceAllString(m[1], " ")) {
				used++
				if !styled[c] {
					t.Errorf("%s: class %q has no rule in style.css", f, c)
				}
			}
		}
	}
	if used < 20 {
		t.Fatalf("only %d class uses found: the scan is broken", used)
	}
	for _, want := range []string{"--fs-base", "--sp-4", ".secondary", ".danger", ":focus-visible", ".skip-link", "aria-current=page", "data-label", "::details-content"} {
		if !strings.Contains(string(css), want) {
			t.Errorf("style.css lacks %s", want)
		}
	}
}
