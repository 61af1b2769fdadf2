package httpx

import (
	"mime"
	"net/http"
)

// ParseFormStd is ParseForm as it was, by the standard library alone:
// the media type by mime.ParseMediaType, then r.ParseForm behind
// http.MaxBytesReader. The fast path must match it.
func ParseFormStd(w http.ResponseWriter, r *http.Request) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != formType {
		return &InputError{Status: http.StatusUnsupportedMediaType, Message: "Content-Type must be " + formType}
	}
	return parseFormStd(w, r)
}
