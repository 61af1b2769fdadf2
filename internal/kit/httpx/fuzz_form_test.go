package httpx_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/httpx"
)

// FuzzParseForm: any body and content type at a form endpoint (token,
// introspection, revocation, sign-in) either parses into exactly what
// url.ParseQuery reads from the body, or is an *InputError with 400, 413
// or 415 and a short printable message; the query string never leaks
// into PostForm (T43).
func FuzzParseForm(f *testing.F) {
	for _, s := range []struct{ ctype, body string }{
		{"application/x-www-form-urlencoded", "grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fa%2Fcb"},
		{"application/x-www-form-urlencoded; charset=UTF-8", "a=1&a=2"},
		{"application/x-www-form-urlencoded", "a=%zz"},
		{"application/x-www-form-urlencoded", "a;b=c"},
		{"application/x-www-form-urlencoded", "=&&="},
		{"application/x-www-form-urlencoded", "scope=a+b%20c&state=\x00"},
		{"application/x-www-form-urlencoded", ""},
		{"application/json", `{"grant_type":"client_credentials"}`},
		{"multipart/form-data; boundary=x", "--x\r\n"},
		{"", "a=b"},
		{"application/x-www-form-urlencoded;", "a=b"},
		{"APPLICATION/X-WWW-FORM-URLENCODED", "a=b"},
	} {
		f.Add(s.ctype, []byte(s.body), "q=1")
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte, query string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(string(body)))
		r.URL.RawQuery = query
		r.Header["Content-Type"] = []string{ctype}
		err := httpx.ParseForm(httptest.NewRecorder(), r)
		if err != nil {
			var in *httpx.InputError
			if !errors.As(err, &in) {
				t.Fatalf("error %v (%T) is not an *InputError", err, err)
			}
			switch in.Status {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			default:
				t.Fatalf("status %d for %v", in.Status, err)
			}
			if in.Message == "" || len(in.Message) > 300 || strings.ContainsFunc(in.Message, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
				t.Fatalf("message %q", in.Message)
			}
			return
		}
		want, perr := url.ParseQuery(string(body))
		if perr != nil {
			t.Fatalf("body %q does not parse (%v) but ParseForm accepted it", body, perr)
		}
		if len(want) != len(r.PostForm) {
			t.Fatalf("PostForm %q, want %q", r.PostForm, want)
		}
		for k, vs := range want {
			if strings.Join(r.PostForm[k], "\x00") != strings.Join(vs, "\x00") || len(r.PostForm[k]) != len(vs) {
				t.Fatalf("PostForm[%q] = %q, want %q", k, r.PostForm[k], vs)
			}
		}
	})
}
