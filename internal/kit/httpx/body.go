package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
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
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
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
// MaxBody bytes.
func ParseForm(w http.ResponseWriter, r *http.Request) error {
	if err := requireType(r, "application/x-www-form-urlencoded"); err != nil {
		return err
	}
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
