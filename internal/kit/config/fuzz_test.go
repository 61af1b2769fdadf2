package config

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoadFile: any YAML config file is read without panicking (the YAML
// parser's alias-expansion limits included); every problem comes back as
// an error naming the file; reading is deterministic (the same errors in
// the same order, the same settings); an unknown key is always reported
// and never changes a setting; and a file that loads cleanly can be
// validated.
func FuzzLoadFile(f *testing.F) {
	for _, s := range []string{
		"addr: 127.0.0.1:9090\nissuer: https://id.example.com\n",
		"scopes: [openid, profile]\naudiences: tms strings\n",
		"api_token_ttl: 24h\nquery_token: false\npassword_workers: 2\n",
		"api_token_ttl: forever\nquery_token: maybe\npassword_workers: many\n",
		"trusted_proxies: [10.0.0.0/8, 192.168.1.1, nonsense]\n",
		"unknown_key: 1\n",
		"addr: null\n",
		"scopes: {a: b}\n",
		"- a\n- b\n",
		"a: &a [*a]\n",
		"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
		"? [a]\n: b\n",
		"1: x\n",
		"addr: !!binary aGVsbG8=\n",
		"\t",
		"",
		"{",
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		read := func(string) ([]byte, error) { return data, nil }
		c1, c2 := Defaults(), Defaults()
		errs1 := loadFile(&c1, "tolk.yaml", read)
		errs2 := loadFile(&c2, "tolk.yaml", read)
		if fmt.Sprint(errs1) != fmt.Sprint(errs2) || fmt.Sprintf("%#v", c1) != fmt.Sprintf("%#v", c2) {
			t.Fatalf("loading %q twice differs:\n%v\n%v", data, errs1, errs2)
		}
		for _, err := range errs1 {
			if err == nil || !strings.Contains(err.Error(), "tolk.yaml") {
				t.Fatalf("error %v does not name the file", err)
			}
		}
		// Every unknown key is reported by name; a file without known
		// keys leaves the configuration at its defaults.
		var m map[string]any
		if yaml.Unmarshal(data, &m) != nil {
			return
		}
		known := 0
		for k := range m {
			if _, ok := lookup(k); ok {
				known++
				continue
			}
			if !strings.Contains(fmt.Sprint(errs1), "unknown key "+strconv.Quote(k)) {
				t.Fatalf("unknown key %q not reported: %v", k, errs1)
			}
		}
		if known == 0 && fmt.Sprintf("%#v", c1) != fmt.Sprintf("%#v", Defaults()) {
			t.Fatalf("a file without known keys changed the configuration: %q", data)
		}
		if len(errs1) == 0 {
			_ = c1.Validate()
		}
	})
}
