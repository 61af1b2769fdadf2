package sqlite

import (
	"encoding/json"
	"slices"
	"strings"
)

// The string lists and audit details written with every issued token are
// JSON (scopes, audiences, {"grant_type": …}). encoding/json reflects and
// allocates several times per value; these build the same bytes directly
// when every string is plain (printable ASCII that JSON does not escape),
// which catalog scopes, application names and event details are, and
// fall back to encoding/json otherwise.

// plain reports whether json.Marshal writes s between quotes unchanged.
// It escapes ", \ and control characters, and <, > and & as HTML.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// strList encodes a string list as a JSON array; nil and empty are both
// "[]".
func strList(v []string) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	n := 1
	for _, s := range v {
		if !plain(s) {
			b, err := json.Marshal(v)
			return string(b), err
		}
		n += len(s) + 3
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('[')
	for i, s := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		quoted(&b, s)
	}
	b.WriteByte(']')
	return b.String(), nil
}

// detailsObject encodes d as a JSON object with sorted keys, as
// json.Marshal does.
func detailsObject(d map[string]string) (string, error) {
	var keys [8]string
	ks := keys[:0]
	n := 1
	for k, v := range d {
		if !plain(k) || !plain(v) {
			b, err := json.Marshal(d)
			return string(b), err
		}
		ks = append(ks, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(ks)
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('{')
	for i, k := range ks {
		if i > 0 {
			b.WriteByte(',')
		}
		quoted(&b, k)
		b.WriteByte(':')
		quoted(&b, d[k])
	}
	b.WriteByte('}')
	return b.String(), nil
}

// quoted writes a plain string as a JSON string.
func quoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}
