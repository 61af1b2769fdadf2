package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAppendJSONString: for any string, AppendJSONString writes the bytes
// encoding/json writes (HTML-safe escapes, U+2028/2029, invalid UTF-8 as
// U+FFFD), so the two decode alike by construction.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \back\slash`, "<script>&amp;</script>", "tab\tnl\ncr\rbs\bff\f\x00\x1f\x7f",
		"ünïcödé 日本語 😀", "\u2028\u2029", "\xff\xfe bad \xc3", "\xed\xa0\x80", strings.Repeat("a\"", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendJSONString([]byte("prefix"), s)
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("AppendJSONString dropped what dst held: %q", got)
		}
		got = got[len("prefix"):]
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendJSONString(%q) = %s, encoding/json %s", s, got, want)
		}
		if !utf8.Valid(got) {
			t.Fatalf("AppendJSONString(%q) is not UTF-8: %q", s, got)
		}
	})
}

// FuzzJSONObject: an object of any names and values of the shapes
// JSONObject writes decodes, with encoding/json, to what json.Marshal of
// the same members decodes to.
func FuzzJSONObject(f *testing.F) {
	f.Add("iss", "https://id.example.com", "aud", "tms\x00strings", int64(1795000000), true)
	f.Add("a\"b", "\xff<>&\u2028", "", "", int64(-1), false)
	f.Fuzz(func(t *testing.T, n1, v1, n2, list string, i int64, nilList bool) {
		var l []string
		if !nilList {
			l = strings.Split(list, "\x00")
		}
		o := NewJSONObject(nil)
		o.String(n1, v1)
		o.Strings(n2, l)
		o.Int("n", i)
		got := o.Close()
		var names map[string]any
		if err := json.Unmarshal(got, &names); err != nil {
			t.Fatalf("not JSON: %s: %v", got, err)
		}
		if len(names) != 3 {
			// Two names that read alike (claims' names are distinct
			// constants; a map cannot hold the duplicate to compare).
			t.Skip()
		}
		m := map[string]any{}
		m[n1] = v1
		m[n2] = l
		m["n"] = i
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := decodeJSON(t, got), decodeJSON(t, want); g != w {
			t.Fatalf("JSONObject wrote %s (%s), encoding/json %s (%s)", got, g, want, w)
		}
	})
}

// decodeJSON decodes b with encoding/json (numbers kept exact) and
// re-encodes the value, for comparison.
func decodeJSON(t *testing.T, b []byte) string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %s: %v", b, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("trailing data after %s", b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
