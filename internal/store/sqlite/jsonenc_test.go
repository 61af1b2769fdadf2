package sqlite

import (
	"encoding/json"
	"strings"
	"testing"
)

// The fast encoders write exactly what encoding/json writes, for plain
// strings and for anything else (where they hand over to it).
func FuzzJSONEncoders(f *testing.F) {
	for _, s := range []string{"", "read", "read\x00write", "tms\x00strings\x00studio", `a"b`, "a<b>&", "ü", "\n", "k\x01v\x00k2\x01", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list := strings.Split(s, "\x00")
		if s == "" {
			list = nil
		}
		got, err := strList(list)
		if err != nil {
			t.Fatal(err)
		}
		want := "[]"
		if len(list) > 0 {
			b, _ := json.Marshal(list)
			want = string(b)
		}
		if got != want {
			t.Fatalf("strList(%q) = %s, json.Marshal %s", list, got, want)
		}
		d := map[string]string{}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "\x01")
			d[k] = v
		}
		gotD, err := detailsObject(d)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(d)
		if gotD != string(b) {
			t.Fatalf("detailsObject(%q) = %s, json.Marshal %s", d, gotD, b)
		}
	})
}
