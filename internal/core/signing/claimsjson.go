package signing

import (
	"strconv"
	"unicode/utf8"
)

// JSONAppender is implemented by claims that write their own JSON. Sign
// uses it instead of encoding/json: reflection over the claims struct, its
// tags and its interface boxing were about a fifth of an exchange's
// signing cost (docs/performance.md, "Exchange signing"). What it writes
// must decode to the same value as json.Marshal of the claims; each
// implementation has a fuzz test saying so.
type JSONAppender interface {
	// AppendJSON appends the claims as one JSON object to dst.
	AppendJSON(dst []byte) []byte
}

// JSONObject writes a JSON object member by member into a byte slice,
// for AppendJSON implementations. Names and values are escaped as
// encoding/json escapes them, so a name or value from a user (a display
// name, an organization's text) cannot break out of its string.
type JSONObject struct {
	buf  []byte
	more bool
}

// NewJSONObject starts an object at the end of dst.
func NewJSONObject(dst []byte) JSONObject {
	return JSONObject{buf: append(dst, '{')}
}

func (o *JSONObject) name(n string) {
	if o.more {
		o.buf = append(o.buf, ',')
	}
	o.more = true
	o.buf = AppendJSONString(o.buf, n)
	o.buf = append(o.buf, ':')
}

// String writes "name":"v".
func (o *JSONObject) String(name, v string) {
	o.name(name)
	o.buf = AppendJSONString(o.buf, v)
}

// Int writes "name":v.
func (o *JSONObject) Int(name string, v int64) {
	o.name(name)
	o.buf = strconv.AppendInt(o.buf, v, 10)
}

// Strings writes "name":[...], or null for a nil slice as encoding/json
// does.
func (o *JSONObject) Strings(name string, v []string) {
	o.name(name)
	if v == nil {
		o.buf = append(o.buf, "null"...)
		return
	}
	o.buf = append(o.buf, '[')
	for i, s := range v {
		if i > 0 {
			o.buf = append(o.buf, ',')
		}
		o.buf = AppendJSONString(o.buf, s)
	}
	o.buf = append(o.buf, ']')
}

// Close ends the object and returns the slice.
func (o *JSONObject) Close() []byte {
	return append(o.buf, '}')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it: ", \ and control characters; <, > and & as \u003c, \u003e
// and \u0026 (so a token pasted into HTML stays inert, as go-jose's
// output did); U+2028 and U+2029 (line terminators in older JavaScript);
// and each byte of invalid UTF-8 as U+FFFD, so the payload is always
// valid UTF-8 and every parser reads the same value.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
