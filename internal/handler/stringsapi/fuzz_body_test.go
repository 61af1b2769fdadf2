package stringsapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// FuzzAuthorizationsBody: any body and content type for POST (create) and
// PATCH (update) /v2/authorizations, through the whole server with a
// signed-in user. The answer is 200/201 with a well-formed authorization,
// or a Strings error ({"message"}, 422 with field errors) with 400, 413,
// 415, 422 or 429; never a 5xx. A created token has the PAT shape, its
// hashed_token is its SHA-256, and its note and scopes obey the rules.
func FuzzAuthorizationsBody(f *testing.F) {
	s := tolktest.New(f)
	s.CreateUser(f, "lena", store.RoleLinguist, pw)
	send := func(method, path, ctype string, body []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, bytes.NewReader(body))
		r.Header["Content-Type"] = []string{ctype}
		r.SetBasicAuth("lena", pw)
		w := httptest.NewRecorder()
		s.Tolk.Handler.ServeHTTP(w, r)
		return w
	}
	first := send(http.MethodPost, "/v2/authorizations", "application/json", []byte(`{"note":"fuzz target"}`))
	var a authz
	if first.Code != http.StatusCreated || json.Unmarshal(first.Body.Bytes(), &a) != nil {
		f.Fatalf("create: %d %s", first.Code, first.Body)
	}
	for _, seed := range []struct{ ctype, body string }{
		{"application/json", `{"note":"My Deploy Script","scopes":["read","write"],"expires_at":"2027-03-30T09:52:53Z"}`},
		{"application/json", `{"note":"x","expires_at":null}`},
		{"application/json", `{"note":"x","expires_at":"2020-01-01T00:00:00Z"}`},
		{"application/json", `{"note":"x","expires_at":"tomorrow"}`},
		{"application/json", `{"note":"x","expires_at":5}`},
		{"application/json", `{"note":"x","scopes":["read","read","admin"]}`},
		{"application/json", `{"note":"x","scopes":"read"}`},
		{"application/json", `{"note":"   "}`},
		{"application/json", `{"note":"a\u0000b"}`},
		{"application/json", `{"note":"` + strings.Repeat("é", 256) + `"}`},
		{"application/json", `{"note":null}`},
		{"application/json", `{}`},
		{"application/json", `{"note":"' OR 1=1--"}`},
		{"application/json", `{"note":"x"} {"note":"y"}`},
		{"application/json", `[`},
		{"text/plain", `{"note":"x"}`},
		{"application/json; charset=utf-8", "{\"note\":\"\xff\"}"},
	} {
		f.Add(seed.ctype, []byte(seed.body), false)
		f.Add(seed.ctype, []byte(seed.body), true)
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte, update bool) {
		s.Clock.Advance(time.Second) // stay under the per-user rate limit
		method, path, ok := http.MethodPost, "/v2/authorizations", http.StatusCreated
		if update {
			method, path, ok = http.MethodPatch, "/v2/authorizations/"+a.ID, http.StatusOK
		}
		w := send(method, path, ctype, body)
		switch w.Code {
		case ok:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType,
			http.StatusUnprocessableEntity, http.StatusTooManyRequests:
			var e struct {
				Message string `json:"message"`
				Errors  []struct{ Resource, Field, Message string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Message == "" {
				t.Fatalf("%s %d: not a Strings error: %s", method, w.Code, w.Body)
			}
			if w.Code == http.StatusUnprocessableEntity && (e.Message != "Validation Failed" || len(e.Errors) == 0) {
				t.Fatalf("422 without field errors: %s", w.Body)
			}
			return
		default:
			t.Fatalf("%s %q (%s): status %d: %s", method, body, ctype, w.Code, w.Body)
		}
		var got authz
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v: %s", method, err, w.Body)
		}
		note := strings.TrimSpace(got.Note)
		if note == "" || note != got.Note || strings.ContainsFunc(note, unicode.IsControl) || len([]rune(note)) > 255 {
			t.Fatalf("%s accepted note %q", method, got.Note)
		}
		seen := map[string]bool{}
		for _, sc := range got.Scopes {
			if !slices.Contains(s.Tolk.Config.Scopes, sc) || seen[sc] {
				t.Fatalf("%s accepted scopes %q", method, got.Scopes)
			}
			seen[sc] = true
		}
		if update {
			if got.ID != a.ID || got.Token != "" {
				t.Fatalf("update answered %+v", got)
			}
			return
		}
		if !hex64.MatchString(got.Token) || got.HashedToken != secret.Hash(got.Token) || got.TokenLastEight != got.Token[56:] || !hex32.MatchString(got.ID) {
			t.Fatalf("create answered %+v", got)
		}
	})
}
