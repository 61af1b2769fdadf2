package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// MaxBody is the largest request body tolk reads (1 MiB).
const MaxBody = 1 << 20

// InputError is a problem with the request a client can fix; Status is the
// HTTP status to answer with, Field the offending field if any.
type InputError struct {
	Status  int
	Field   string
	Message string
}

func (e *InputError) Error() string { return e.Message }

// DecodeJSON reads exactly one JSON object of at most MaxBody bytes into
// dst. It answers with an *InputError: 415 for another content type, 413
// for a body too large, 400 for malformed JSON or a wrong field type.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if err := requireType(r, "application/json"); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return jsonError(err)
		}
		return &InputError{Status: http.StatusBadRequest, Message: "request body must hold a single JSON object"}
	}
	return nil
}

func requireType(r *http.Request, want string) error {
	ct := r.Header.Get("Content-Type")
	if ct == want {
		// What ParseMediaType finds in the usual header, without the
		// map of parameters it allocates.
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != want {
		return &InputError{Status: http.StatusUnsupportedMediaType, Message: "Content-Type must be " + want}
	}
	return nil
}

func jsonError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return &InputError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body must not exceed %d bytes", tooBig.Limit)}
	case errors.As(err, &typ):
		return &InputError{Status: http.StatusBadRequest, Field: typ.Field, Message: fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type.Kind())}
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &InputError{Status: http.StatusBadRequest, Message: "request body is not valid JSON"}
	default:
		// json reports some problems (e.g. a top-level non-object into a
		// struct) without a typed error.
		return &InputError{Status: http.StatusBadRequest, Message: "request body is not valid JSON: " + sanitize(err.Error())}
	}
}

// ParseForm reads an application/x-www-form-urlencoded body of at most
// MaxBody bytes into r.PostForm, as r.ParseForm behind
// http.MaxBytesReader would.
//
// The usual request (POST, PUT or PATCH, no query string, a body that
// reads to its end and parses without error into at most maxFastParams
// pairs) is read by a parser of its own: r.ParseForm costs a token
// request about a dozen allocations (two media-type parses, each with a
// map; the body read in growing buffers, then copied into a string; a
// slice per value; r.Form built as a second map of copied slices). Here
// it is the body's string, the map and one backing array for its values.
// Every other request, and any body on which the parser stops (an
// escape, a ';' or another error, too many pairs, a read error, more
// than MaxBody bytes), goes through r.ParseForm exactly as before, the
// bytes already read replayed in front of the rest of the body.
// FuzzParseFormMatchesStdlib checks that both give the same PostForm,
// Form and error.
//
// r.Form is left nil on the fast path: r.FormValue and r.ParseForm fill
// it from r.PostForm (and the empty query) when something asks for it.
func ParseForm(w http.ResponseWriter, r *http.Request) error {
	if err := requireType(r, formType); err != nil {
		return err
	}
	if r.PostForm != nil || r.Form != nil || r.Body == nil || r.URL == nil || r.URL.RawQuery != "" ||
		(r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch) {
		return parseFormStd(w, r)
	}
	bp := formBufs.Get().(*[]byte)
	buf, rerr := readBody(r.Body, (*bp)[:0])
	if rerr != nil || len(buf) > MaxBody {
		// Not given back to the pool: the replay reads from it.
		r.Body = replay(r.Body, buf, rerr)
		return parseFormStd(w, r)
	}
	s := string(buf)
	if cap(buf) <= maxPooledForm {
		*bp = buf[:0]
		formBufs.Put(bp)
	}
	vs, ok := parseFormBody(s)
	if !ok {
		r.Body = replay(r.Body, []byte(s), nil)
		return parseFormStd(w, r)
	}
	r.PostForm = vs
	return nil
}

const formType = "application/x-www-form-urlencoded"

// parseFormStd is ParseForm by the standard library.
func parseFormStd(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &InputError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body must not exceed %d bytes", tooBig.Limit)}
		}
		return &InputError{Status: http.StatusBadRequest, Message: "malformed form body"}
	}
	return nil
}

// formBufs holds the buffers form bodies are read into; buffers grown
// past maxPooledForm are left to the collector.
var formBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledForm = 64 << 10

// readBody appends body to buf until its end, an error, or more than
// MaxBody bytes: it reads no further than MaxBody+1, as MaxBytesReader
// would.
func readBody(body io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(len(buf), 512)) // doubles
		}
		n, err := body.Read(buf[len(buf):min(cap(buf), MaxBody+1)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil || len(buf) > MaxBody {
			return buf, err
		}
	}
}

// replay is a body that gives read and then what body gives, or err if
// the reading ended with it.
func replay(body io.ReadCloser, read []byte, err error) io.ReadCloser {
	rest := io.Reader(body)
	if err != nil {
		rest = errReader{err}
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(read), rest), body}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// maxFastParams bounds the pairs parseFormBody reads (a token request has
// two to six); past it url.ParseQuery reads the body, with its own limit.
const maxFastParams = 32

// parseFormBody is url.ParseQuery(s) for a body that it parses without
// error, with one allocation for the map and one for the first value of
// every key. It returns false where ParseQuery would report an error, and
// for more than maxFastParams pairs.
func parseFormBody(s string) (url.Values, bool) {
	n := strings.Count(s, "&") + 1
	if n > maxFastParams {
		return nil, false
	}
	if s == "" {
		return url.Values{}, true
	}
	m := make(url.Values, n)
	vals := make([]string, n)
	i := 0
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		if strings.Contains(kv, ";") { // ParseQuery's "invalid semicolon separator"
			return nil, false
		}
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(k) // no allocation without an escape
		if err != nil {
			return nil, false
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return nil, false
		}
		if old, ok := m[k]; ok {
			m[k] = append(old, v) // cap 1: copies, never writes into vals
			continue
		}
		vals[i] = v
		m[k] = vals[i : i+1 : i+1]
		i++
	}
	return m, true
}

// sanitize keeps error text short and printable; it never contains input
// values of our own making, but json may quote a fragment of the body.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	// Assigned, like NoStore's: Header.Set canonicalizes and allocates.
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jsonContentType is shared by every answer; len == cap, so an Add to it
// copies instead of writing into it.
var jsonContentType = []string{"application/json"}
