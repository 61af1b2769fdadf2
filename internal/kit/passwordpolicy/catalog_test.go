package passwordpolicy

import (
	"slices"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/i18n"
)

// Every violation has a text in every catalog, formatted without a
// missing or extra argument, and the English one is what Error says, so
// the web UI and the CLI tell the same.
func TestEveryCatalogTranslatesEveryViolation(t *testing.T) {
	c, err := i18n.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	for code := range english {
		v := &Violation{Code: code}
		if v.MessageArgs() != nil {
			v.Limit = 12
		}
		for _, tag := range c.Languages() {
			if !slices.Contains(c.Keys(tag), v.MessageKey()) {
				t.Errorf("catalog %s: no %s", tag, v.MessageKey())
				continue
			}
			got := c.Match(tag.String()).T(v.MessageKey(), v.MessageArgs()...)
			if strings.Contains(got, "%!") || (v.Limit != 0 && !strings.Contains(got, "12")) {
				t.Errorf("catalog %s: %s formats as %q", tag, v.MessageKey(), got)
			}
			if tag == i18n.Fallback && got != v.Error() {
				t.Errorf("%s: catalog says %q, Error says %q", code, got, v.Error())
			}
		}
	}
}
