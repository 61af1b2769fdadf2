package verify_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/verify"
)

const fuzzPAT = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestSchemeFoldingIsASCIIOnly(t *testing.T) {
	if c, err := verify.ParseAuthorization("TOKEN " + fuzzPAT); err != nil || c.Method != verify.MethodPAT {
		t.Fatalf("upper-case scheme: %v %v", c.Method, err)
	}
	if _, err := verify.ParseAuthorization("to\u212Aen " + fuzzPAT); err == nil {
		t.Fatal("a Kelvin sign passed for the letter k in the scheme")
	}
}

// FuzzParseAuthorization: the Authorization grammar of every dialect
// (ApiToken, token, Bearer for opaque tokens, JWTs and PATs, Basic with a
// PAT as user name). Whatever the header, the parser either fails with an
// error wrapping ErrInvalid and no credential, or names a dialect and a
// non-empty credential that is taken verbatim from the header (or, for
// Basic, is a PAT decoded from it), and re-parsing the canonical form
// gives the same answer.
func FuzzParseAuthorization(f *testing.F) {
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		"ApiToken " + strings.Repeat("a", 64),
		"apitoken   tok  ",
		"token " + fuzzPAT,
		"Bearer " + fuzzPAT,
		"Bearer " + strings.ToUpper(fuzzPAT),
		"Bearer tolk_at_abc",
		"Bearer a.b.c",
		"Bearer a.b",
		"Bearer a.b.c.d",
		"bEaReR \t x",
		basic(fuzzPAT + ":"),
		basic(fuzzPAT + ":pw"),
		basic("alice:secret"),
		basic(":"),
		"Basic !!!",
		"Basic " + base64.RawStdEncoding.EncodeToString([]byte(fuzzPAT+":")),
		"Basic",
		"Bearer",
		"Bearer ",
		" Bearer x",
		"Digest x",
		"",
		"\x00 \x00",
		"Bearer\tx",
		"ApiToken a b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := verify.ParseAuthorization(h)
		m, v := c.Method, c.Value
		if err != nil {
			if !errors.Is(err, verify.ErrInvalid) {
				t.Fatalf("ParseAuthorization(%q): error %v does not wrap ErrInvalid", h, err)
			}
			if m != "" || v != "" {
				t.Fatalf("ParseAuthorization(%q): error with result %q %q", h, m, v)
			}
			return
		}
		if v == "" || v != strings.TrimSpace(v) {
			t.Fatalf("ParseAuthorization(%q): credential %q empty or padded", h, v)
		}
		scheme, _, _ := strings.Cut(strings.TrimSpace(h), " ")
		switch asciiLower(scheme) {
		case "apitoken":
			if m != verify.MethodAPIToken {
				t.Fatalf("ParseAuthorization(%q) = %s", h, m)
			}
		case "token":
			if m != verify.MethodPAT {
				t.Fatalf("ParseAuthorization(%q) = %s", h, m)
			}
		case "bearer":
			want := verify.MethodBearer
			switch {
			case verify.IsPAT(v):
				want = verify.MethodPAT
			case strings.Count(v, ".") == 2:
				want = verify.MethodJWT
			}
			if m != want {
				t.Fatalf("ParseAuthorization(%q) = %s, want %s", h, m, want)
			}
		case "basic":
			// Only a PAT user name with an empty password, and the PAT is
			// exactly what was encoded.
			if m != verify.MethodPAT || !verify.IsPAT(v) {
				t.Fatalf("ParseAuthorization(%q) = %s %q", h, m, v)
			}
			raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(h), scheme)))
			if derr != nil || string(raw) != v+":" {
				t.Fatalf("ParseAuthorization(%q) = %q, not the encoded user name (%q, %v)", h, v, raw, derr)
			}
			return
		default:
			t.Fatalf("ParseAuthorization(%q) accepted scheme %q", h, scheme)
		}
		if !strings.Contains(h, v) {
			t.Fatalf("ParseAuthorization(%q) = %q, not taken from the header", h, v)
		}
		// The canonical form parses to the same credential.
		c2, err := verify.ParseAuthorization(scheme + " " + v)
		if err != nil || c2.Method != m || c2.Value != v {
			t.Fatalf("re-parse of %q: %s %q %v, want %s %q", scheme+" "+v, c2.Method, c2.Value, err, m, v)
		}
	})
}

// asciiLower folds ASCII letters only, as schemes are compared.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// FuzzCredential: which credential a request carries, with TMS ?token=
// on and off. The API key header wins over Authorization, which wins over
// the query token; the query token is used only when enabled; the value
// returned is the one from the winning source.
func FuzzCredential(f *testing.F) {
	for _, s := range []struct {
		key, authz, query string
		queryToken        bool
	}{
		{"", "", "token=" + strings.Repeat("a", 64), true},
		{"", "", "token=" + strings.Repeat("a", 64), false},
		{"", "ApiToken abc", "token=def", true},
		{"tolk_pk_x", "ApiToken abc", "token=def", true},
		{"", "", "token=&token=x", true},
		{"", "", "token=%zz", true},
		{"", "", "TOKEN=x", true},
		{"", "", "a=1;token=x", true},
		{"", "Bearer", "token=x", true},
		{" ", "", "", false},
	} {
		f.Add(s.key, s.authz, s.query, s.queryToken)
	}
	f.Fuzz(func(t *testing.T, key, authz, query string, queryToken bool) {
		r := httptest.NewRequest(http.MethodGet, "/api2/v1/auth/whoAmI", nil)
		r.URL.RawQuery = query
		if key != "" {
			r.Header["X-Proz-Api-Key"] = []string{key}
		}
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		c, err := verify.CredentialReader{QueryToken: queryToken}.Read(r)
		m, v := c.Method, c.Value
		switch {
		case key != "":
			if m != verify.MethodAPIKey || v != key || err != nil {
				t.Fatalf("API key header %q: %s %q %v", key, m, v, err)
			}
		case authz != "":
			w, werr := verify.ParseAuthorization(authz)
			if m != w.Method || v != w.Value || (err == nil) != (werr == nil) {
				t.Fatalf("Authorization %q: %s %q %v, want %s %q %v", authz, m, v, err, w.Method, w.Value, werr)
			}
		default:
			// Like r.URL.Query(): a malformed pair is skipped, not fatal.
			q, _ := url.ParseQuery(query)
			qv := q.Get("token")
			if queryToken && qv != "" {
				if m != verify.MethodAPIToken || v != qv || err != nil {
					t.Fatalf("?%s: %s %q %v, want apitoken %q", query, m, v, err, qv)
				}
			} else if !errors.Is(err, verify.ErrNoCredentials) || m != "" || v != "" {
				t.Fatalf("?%s (query tokens %v): %s %q %v, want no credentials", query, queryToken, m, v, err)
			}
		}
	})
}
