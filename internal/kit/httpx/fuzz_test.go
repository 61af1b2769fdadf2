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

// FuzzDecodeJSON: any body and content type either decodes or yields an
// *InputError with status 400, 413 or 415; it never panics (T43).
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []struct{ ctype, body string }{
		{"application/json", `{"userName":"alice","password":"x","count":1}`},
		{"application/json; charset=utf-8", `{"userName":null}`},
		{"application/json", `{"userName":5}`},
		{"application/json", `{"count":1e400}`},
		{"application/json", `{"count":-0.0}`},
		{"application/json", `{"userName":"\ud800"}`},
		{"application/json", "{\"userName\":\"a\x00b\"}"},
		{"application/json", `{} {}`},
		{"application/json", `[[[[[[[[[[`},
		{"application/json", `"\u0000"`},
		{"application/json", ``},
		{"text/plain", `{}`},
		{"", `{}`},
		{"application/json;", `{}`},
		{"application/json; charset=\"", `{}`},
	} {
		f.Add(seed.ctype, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		r.Header["Content-Type"] = []string{ctype}
		var dst loginReq
		err := httpx.DecodeJSON(httptest.NewRecorder(), r, &dst)
		if err == nil {
			return
		}
		var in *httpx.InputError
		if !errors.As(err, &in) {
			t.Fatalf("error %v (%T) is not an *InputError", err, err)
		}
		switch in.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d for %v", in.Status, err)
		}
		if in.Message == "" || len(in.Message) > 300 {
			t.Fatalf("message %q", in.Message)
		}
		for _, c := range in.Message {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("control character in message %q", in.Message)
			}
		}
	})
}

var sensitive = []string{
	"token", "access_token", "refresh_token", "id_token", "id_token_hint", "code", "code_verifier",
	"client_secret", "password", "subject_token", "state", "nonce", "key", "api_key",
}

// FuzzRedactQuery: whatever the query, a sensitive parameter's value never
// survives redaction, and other parameters are kept.
func FuzzRedactQuery(f *testing.F) {
	for _, s := range []string{
		"", "token=abc", "TOKEN=abc&page=2", "tok%65n=abc", "token=a&token=b", "a=%zz&token=s",
		"page=1;token=abc", "code=x&state=y&nonce=z", "token", "=token", "&&token=x&&", "token=a+b%20c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := httpx.RedactQuery(raw)
		in, err := url.ParseQuery(raw)
		if err != nil {
			if out != "[unparseable]" {
				t.Fatalf("RedactQuery(%q) = %q for an unparseable query", raw, out)
			}
			return
		}
		got, err := url.ParseQuery(out)
		if err != nil {
			t.Fatalf("RedactQuery(%q) = %q, which does not parse: %v", raw, out, err)
		}
		for k, vs := range in {
			isSensitive := false
			for _, s := range sensitive {
				if strings.EqualFold(k, s) {
					isSensitive = true
				}
			}
			if isSensitive {
				if len(got[k]) != 1 || got[k][0] != "REDACTED" {
					t.Fatalf("RedactQuery(%q) = %q: %s not redacted", raw, out, k)
				}
				continue
			}
			if strings.Join(got[k], "\x00") != strings.Join(vs, "\x00") {
				t.Fatalf("RedactQuery(%q) = %q: %s changed", raw, out, k)
			}
		}
		if len(got) != len(in) {
			t.Fatalf("RedactQuery(%q) = %q: parameters added or lost", raw, out)
		}
	})
}
