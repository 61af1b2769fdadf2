package stringsapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

const pw = "linguist-password-1"

type client struct {
	t    *testing.T
	s    *tolktest.Server
	user string
	pass string
}

func setup(t *testing.T, opts ...tolktest.Options) (*tolktest.Server, client) {
	t.Helper()
	s := tolktest.New(t, opts...)
	s.CreateUser(t, "lena", store.RoleLinguist, pw)
	return s, client{t: t, s: s, user: "lena", pass: pw}
}

// do sends a request with Basic auth (unless auth is set) and a JSON body.
func (c client) do(method, path, body string, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequest(method, c.s.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	return c.s.Do(c.t, req)
}

type authz struct {
	ID             string   `json:"id"`
	Note           string   `json:"note"`
	TokenLastEight string   `json:"token_last_eight"`
	HashedToken    string   `json:"hashed_token"`
	Scopes         []string `json:"scopes"`
	ExpiresAt      *string  `json:"expires_at"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
	Token          string   `json:"token"`
}

func (c client) create(body string) authz {
	c.t.Helper()
	resp, b := c.do("POST", "/v2/authorizations", body)
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var a authz
	if err := json.Unmarshal(b, &a); err != nil {
		c.t.Fatal(err)
	}
	return a
}

var (
	hex32   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hex64   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	dateFmt = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
)

func TestCreateResponseShape(t *testing.T) {
	s, c := setup(t)
	resp, b := c.do("POST", "/v2/authorizations", `{"note":"My Deploy Script","scopes":["read","write"],"expires_at":"2027-03-30T09:52:53Z"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	want := []string{"id", "note", "token_last_eight", "hashed_token", "scopes", "expires_at", "created_at", "updated_at", "token"}
	if len(raw) != len(want) {
		t.Errorf("fields = %v, want exactly %v", raw, want)
	}
	for _, k := range want {
		if _, ok := raw[k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	var a authz
	_ = json.Unmarshal(b, &a)
	if !hex32.MatchString(a.ID) || !hex64.MatchString(a.Token) || !hex64.MatchString(a.HashedToken) {
		t.Errorf("id/token/hash shapes: %+v", a)
	}
	if a.HashedToken != secret.Hash(a.Token) || a.TokenLastEight != a.Token[56:] {
		t.Errorf("hashed_token/token_last_eight do not match the token")
	}
	if a.Note != "My Deploy Script" || strings.Join(a.Scopes, " ") != "read write" {
		t.Errorf("note/scopes: %+v", a)
	}
	if a.ExpiresAt == nil || *a.ExpiresAt != "2027-03-30T09:52:53Z" || !dateFmt.MatchString(a.CreatedAt) || !dateFmt.MatchString(a.UpdatedAt) {
		t.Errorf("dates: %+v", a)
	}
	if a.CreatedAt != s.Clock.Now().UTC().Format("2006-01-02T15:04:05Z") {
		t.Errorf("created_at = %s, want the server clock", a.CreatedAt)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	for _, h := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}

	// null expires_at: never expires; the token appears in no other response.
	n := c.create(`{"note":"forever","expires_at":null}`)
	if n.ExpiresAt != nil || len(n.Scopes) != 0 {
		t.Errorf("never-expiring token: %+v", n)
	}
	for _, path := range []string{"/v2/authorizations", "/v2/authorizations/" + a.ID} {
		resp, b := c.do("GET", path, "")
		if resp.StatusCode != 200 || bytes.Contains(b, []byte(a.Token)) || bytes.Contains(b, []byte(`"token"`)) {
			t.Errorf("GET %s: %d, token shown again: %s", path, resp.StatusCode, b)
		}
	}
	resp, b = c.do("GET", "/v2/authorizations/"+a.ID, "")
	var got authz
	_ = json.Unmarshal(b, &got)
	a.Token = ""
	if got.ID != a.ID || got.HashedToken != a.HashedToken || got.Note != a.Note || *got.ExpiresAt != *a.ExpiresAt {
		t.Errorf("show = %+v, want %+v", got, a)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	s, c := setup(t)
	a := c.create(`{"note":"deploy","scopes":["read"],"expires_at":"2027-01-01T00:00:00Z"}`)
	s.Clock.Advance(time.Hour)
	resp, b := c.do("PATCH", "/v2/authorizations/"+a.ID, `{"note":"renamed","scopes":["read","write"],"expires_at":null}`)
	if resp.StatusCode != 200 {
		t.Fatalf("patch: %d %s", resp.StatusCode, b)
	}
	var u authz
	_ = json.Unmarshal(b, &u)
	if u.Note != "renamed" || strings.Join(u.Scopes, " ") != "read write" || u.ExpiresAt != nil || u.UpdatedAt == u.CreatedAt || u.Token != "" {
		t.Errorf("patched = %+v", u)
	}
	// A PATCH without a field keeps it.
	resp, b = c.do("PATCH", "/v2/authorizations/"+a.ID, `{"note":"again"}`)
	_ = json.Unmarshal(b, &u)
	if resp.StatusCode != 200 || strings.Join(u.Scopes, " ") != "read write" {
		t.Errorf("partial patch: %d %+v", resp.StatusCode, u)
	}
	resp, _ = c.do("DELETE", "/v2/authorizations/"+a.ID, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if resp, b := c.do(m, "/v2/authorizations/"+a.ID, ""); resp.StatusCode != 404 || !strings.Contains(string(b), `"message"`) {
			t.Errorf("%s after delete: %d %s", m, resp.StatusCode, b)
		}
	}
}

// TestExpiresAtNeverForms: absent, null, "" and Go's zero time all mean
// "never expires" on create and on update (SPEC §3.3); Phrase's Go SDK
// and CLI send the zero time whenever the caller sets no expiry. On
// update, absent leaves the expiry as it is (a PATCH changes what it names).
func TestExpiresAtNeverForms(t *testing.T) {
	_, c := setup(t)
	for _, tt := range []struct{ name, field string }{
		{"null", `,"expires_at":null`},
		{"empty string", `,"expires_at":""`},
		{"Go zero time", `,"expires_at":"0001-01-01T00:00:00Z"`},
		{"Go zero time with fractions", `,"expires_at":"0001-01-01T00:00:00.000Z"`},
		{"zero instant at another offset", `,"expires_at":"0001-01-01T01:00:00+01:00"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := c
			c.t = t
			if a := c.create(`{"note":"n"` + tt.field + `}`); a.ExpiresAt != nil {
				t.Errorf("create: expires_at %q, want null", *a.ExpiresAt)
			}
			a := c.create(`{"note":"n","expires_at":"2027-01-01T00:00:00Z"}`)
			resp, b := c.do("PATCH", "/v2/authorizations/"+a.ID, `{"note":"m"`+tt.field+`}`)
			var u authz
			if err := json.Unmarshal(b, &u); err != nil || resp.StatusCode != 200 || u.ExpiresAt != nil {
				t.Errorf("update: %d %s, want 200 with expires_at null", resp.StatusCode, b)
			}
		})
	}
	t.Run("absent", func(t *testing.T) {
		c := c
		c.t = t
		if a := c.create(`{"note":"n"}`); a.ExpiresAt != nil {
			t.Errorf("create: expires_at %q, want null", *a.ExpiresAt)
		}
		a := c.create(`{"note":"n","expires_at":"2027-01-01T00:00:00Z"}`)
		resp, b := c.do("PATCH", "/v2/authorizations/"+a.ID, `{"note":"m"}`)
		var u authz
		if err := json.Unmarshal(b, &u); err != nil || resp.StatusCode != 200 || u.ExpiresAt == nil || *u.ExpiresAt != "2027-01-01T00:00:00Z" {
			t.Errorf("update without expires_at: %d %s, want the expiry kept", resp.StatusCode, b)
		}
	})
	// One second after the zero time is a time in the past, not "never".
	resp, b := c.do("POST", "/v2/authorizations", `{"note":"n","expires_at":"0001-01-01T00:00:01Z"}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "expires_at") {
		t.Errorf("0001-01-01T00:00:01Z: %d %s, want 422 on expires_at", resp.StatusCode, b)
	}
}

func TestPagination(t *testing.T) {
	s, c := setup(t)
	var ids []string
	for range 30 {
		ids = append(ids, c.create(`{"note":"n"}`).ID)
		s.Clock.Advance(time.Second)
	}
	type pg struct {
		Total   int  `json:"total_count"`
		Current int  `json:"current_page"`
		PerPage int  `json:"current_per_page"`
		Prev    *int `json:"previous_page"`
		Next    *int `json:"next_page"`
	}
	tests := []struct {
		query      string
		n          int
		first      string
		page, per  int
		prev, next int // 0 = null
		rels       []string
	}{
		{"", 25, ids[0], 1, 25, 0, 2, []string{"first", "next", "last"}},
		{"?page=2", 5, ids[25], 2, 25, 1, 0, []string{"first", "prev", "last"}},
		{"?page=2&per_page=10", 10, ids[10], 2, 10, 1, 3, []string{"first", "prev", "next", "last"}},
		{"?per_page=1000", 30, ids[0], 1, 100, 0, 0, []string{"first", "last"}},
		{"?page=9", 0, "", 9, 25, 2, 0, []string{"first", "prev", "last"}},
	}
	for _, tt := range tests {
		resp, b := c.do("GET", "/v2/authorizations"+tt.query, "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tt.query, resp.StatusCode, b)
		}
		var list []authz
		if err := json.Unmarshal(b, &list); err != nil || len(list) != tt.n || (tt.n > 0 && list[0].ID != tt.first) {
			t.Errorf("%s: %d items (%v), want %d starting %s", tt.query, len(list), err, tt.n, tt.first)
		}
		var p pg
		if err := json.Unmarshal([]byte(resp.Header.Get("Pagination")), &p); err != nil {
			t.Fatalf("%s: Pagination %q: %v", tt.query, resp.Header.Get("Pagination"), err)
		}
		iv := func(p *int) int {
			if p == nil {
				return 0
			}
			return *p
		}
		if p.Total != 30 || p.Current != tt.page || p.PerPage != tt.per || iv(p.Prev) != tt.prev || iv(p.Next) != tt.next {
			t.Errorf("%s: Pagination = %+v", tt.query, p)
		}
		link := resp.Header.Get("Link")
		for _, rel := range []string{"first", "prev", "next", "last"} {
			has := strings.Contains(link, `rel="`+rel+`"`)
			want := strings.Contains(strings.Join(tt.rels, " "), rel)
			if has != want {
				t.Errorf("%s: Link %q: rel=%s present=%v", tt.query, link, rel, has)
			}
		}
		if !strings.Contains(link, "<"+s.URL+"/v2/authorizations?page=1&per_page=") {
			t.Errorf("%s: Link %q does not use the issuer", tt.query, link)
		}
	}
	// Another user sees none of them.
	s.CreateUser(t, "other", store.RoleLinguist, pw)
	o := client{t: t, s: s, user: "other", pass: pw}
	if resp, b := o.do("GET", "/v2/authorizations", ""); resp.StatusCode != 200 || string(bytes.TrimSpace(b)) != "[]" {
		t.Errorf("other user's list: %d %s", resp.StatusCode, b)
	}
	if resp, _ := o.do("GET", "/v2/authorizations/"+ids[0], ""); resp.StatusCode != 404 {
		t.Errorf("other user's token: %d, want 404", resp.StatusCode)
	}
}

// count returns how many tokens lena has, through the API.
func count(t *testing.T, c client) int {
	t.Helper()
	resp, _ := c.do("GET", "/v2/authorizations", "")
	var p struct {
		Total int `json:"total_count"`
	}
	_ = json.Unmarshal([]byte(resp.Header.Get("Pagination")), &p)
	return p.Total
}

// TestBadInputChangesNothing: every endpoint answers bad input with the
// Strings error shapes, and nothing changes.
func TestBadInputChangesNothing(t *testing.T) {
	s, c := setup(t)
	a := c.create(`{"note":"keep","scopes":["read"],"expires_at":"2027-01-01T00:00:00Z"}`)
	long := strings.Repeat("x", 256)
	tests := []struct {
		name, method, path, body, ctype string
		status                          int
		field                           string // 422 field
	}{
		{"missing note", "POST", "", `{"scopes":["read"]}`, "", 422, "note"},
		{"blank note", "POST", "", `{"note":"   "}`, "", 422, "note"},
		{"note too long", "POST", "", `{"note":"` + long + `"}`, "", 422, "note"},
		{"note with NUL", "POST", "", `{"note":"a\u0000b"}`, "", 422, "note"},
		{"unknown scope", "POST", "", `{"note":"n","scopes":["read","admin"]}`, "", 422, "scopes"},
		{"expires in the past", "POST", "", `{"note":"n","expires_at":"2020-01-01T00:00:00Z"}`, "", 422, "expires_at"},
		{"expires not RFC 3339", "POST", "", `{"note":"n","expires_at":"tomorrow"}`, "", 422, "expires_at"},
		{"note wrong type", "POST", "", `{"note":42}`, "", 400, ""},
		{"scopes wrong type", "POST", "", `{"note":"n","scopes":"read"}`, "", 400, ""},
		{"expires wrong type", "POST", "", `{"note":"n","expires_at":12345}`, "", 400, ""},
		{"malformed JSON", "POST", "", `{"note":`, "", 400, ""},
		{"JSON array", "POST", "", `["note"]`, "", 400, ""},
		{"wrong content type", "POST", "", `note=n`, "application/x-www-form-urlencoded", 415, ""},
		{"oversized body", "POST", "", `{"note":"` + strings.Repeat("y", 2<<20) + `"}`, "", 413, ""},
		{"patch blank note", "PATCH", "/" + a.ID, `{"note":""}`, "", 422, "note"},
		{"patch note too long", "PATCH", "/" + a.ID, `{"note":"` + long + `"}`, "", 422, "note"},
		{"patch unknown scope", "PATCH", "/" + a.ID, `{"scopes":["nope"]}`, "", 422, "scopes"},
		{"patch past expiry", "PATCH", "/" + a.ID, `{"expires_at":"2001-01-01T00:00:00Z"}`, "", 422, "expires_at"},
		{"patch bad date", "PATCH", "/" + a.ID, `{"expires_at":"2027-13-45"}`, "", 422, "expires_at"},
		{"patch wrong type", "PATCH", "/" + a.ID, `{"scopes":[1,2]}`, "", 400, ""},
		{"patch malformed", "PATCH", "/" + a.ID, `{`, "", 400, ""},
		{"patch wrong content type", "PATCH", "/" + a.ID, `{"note":"x"}`, "text/plain", 415, ""},
		{"patch unknown id", "PATCH", "/" + strings.Repeat("0", 32), `{"note":"x"}`, "", 404, ""},
		{"patch malformed id", "PATCH", "/'%20OR%201=1--", `{"note":"x"}`, "", 404, ""},
		{"show unknown id", "GET", "/" + strings.Repeat("a", 32), "", "", 404, ""},
		{"delete unknown id", "DELETE", "/" + strings.Repeat("b", 32), "", "", 404, ""},
		{"delete malformed id", "DELETE", "/not-an-id", "", "", 404, ""},
		{"list page zero", "GET", "?page=0", "", "", 400, ""},
		{"list page text", "GET", "?page=two", "", "", 400, ""},
		{"list per_page negative", "GET", "?per_page=-5", "", "", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.ctype != "" {
				hdr = []string{"Content-Type", tt.ctype}
			}
			resp, b := c.do(tt.method, "/v2/authorizations"+tt.path, tt.body, hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			var e struct {
				Message string `json:"message"`
				Errors  []struct {
					Resource, Field, Message string
				} `json:"errors"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Message == "" {
				t.Fatalf("body %s is not a Strings error", b)
			}
			if tt.status == 422 {
				if e.Message != "Validation Failed" || len(e.Errors) != 1 || e.Errors[0].Resource != "Authorization" ||
					e.Errors[0].Field != tt.field || e.Errors[0].Message == "" {
					t.Errorf("validation error = %+v, want field %s", e, tt.field)
				}
			}
		})
	}
	if n := count(t, c); n != 1 {
		t.Errorf("%d tokens after bad input, want 1", n)
	}
	resp, b := c.do("GET", "/v2/authorizations/"+a.ID, "")
	var got authz
	_ = json.Unmarshal(b, &got)
	if resp.StatusCode != 200 || got.Note != "keep" || strings.Join(got.Scopes, " ") != "read" || got.ExpiresAt == nil || got.UpdatedAt != a.UpdatedAt {
		t.Errorf("token changed by bad input: %+v", got)
	}
	_ = s
}

func TestAuthErrors(t *testing.T) {
	s, c := setup(t)
	tests := []struct {
		name   string
		user   string
		pass   string
		status int
	}{
		{"no credentials", "", "", 401},
		{"wrong password", "lena", "wrong", 401},
		{"unknown user", "nobody", pw, 401},
		{"email instead of username", "lena@example.com", pw, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := client{t: t, s: s, user: tt.user, pass: tt.pass}
			resp, b := cl.do("GET", "/v2/authorizations", "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status == 401 {
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") || !strings.Contains(string(b), `"message"`) {
					t.Errorf("401 without Basic challenge or message: %v %s", resp.Header, b)
				}
			}
		})
	}
	_ = c
}

func TestThrottledLogin(t *testing.T) {
	s, _ := setup(t)
	bad := client{t: t, s: s, user: "lena", pass: "wrong"}
	var resp *http.Response
	var b []byte
	for range 20 {
		if resp, b = bad.do("GET", "/v2/authorizations", ""); resp.StatusCode == 429 {
			break
		}
	}
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), `"message"`) {
		t.Fatalf("after many failures: %d %v %s", resp.StatusCode, resp.Header, b)
	}
}

func TestRateLimitHeaders(t *testing.T) {
	s, c := setup(t)
	r1, _ := c.do("GET", "/v2/authorizations", "")
	r2, _ := c.do("GET", "/v2/authorizations", "")
	if r1.Header.Get("X-Rate-Limit-Limit") != "1000" {
		t.Errorf("X-Rate-Limit-Limit = %q", r1.Header.Get("X-Rate-Limit-Limit"))
	}
	if r1.Header.Get("X-Rate-Limit-Remaining") != "999" || r2.Header.Get("X-Rate-Limit-Remaining") != "998" {
		t.Errorf("Remaining = %q, %q", r1.Header.Get("X-Rate-Limit-Remaining"), r2.Header.Get("X-Rate-Limit-Remaining"))
	}
	// A token bucket of 1000, one back every 300 ms (1000 per 5 minutes):
	// after one request it is full again 300 ms later, rounded up.
	wantReset := s.Clock.Now().Add(time.Second).Unix()
	if r1.Header.Get("X-Rate-Limit-Reset") != jsonInt(wantReset) {
		t.Errorf("Reset = %q, want %d", r1.Header.Get("X-Rate-Limit-Reset"), wantReset)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// usePAT calls path with the token in one of the three Strings forms.
func usePAT(t *testing.T, s *tolktest.Server, path, form, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	switch form {
	case "token":
		req.Header.Set("Authorization", "token "+token)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+token)
	case "basic":
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(token+":")))
	case "basic+password":
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(token+":x")))
	}
	return s.Do(t, req)
}

func TestPATAtResourceEndpoints(t *testing.T) {
	s, c := setup(t)
	u, _ := s.Store.GetUserByUserName(t.Context(), "lena")
	withOpenID := c.create(`{"note":"oidc","scopes":["openid","read"]}`).Token
	plain := c.create(`{"note":"plain","scopes":["read"]}`).Token
	for _, form := range []string{"token", "bearer", "basic"} {
		for _, path := range []string{"/user", "/v2/user", "/userinfo"} {
			resp, b := usePAT(t, s, path, form, withOpenID)
			if resp.StatusCode != 200 || !strings.Contains(string(b), "lena") && !strings.Contains(string(b), `"sub":"`+u.UID) {
				t.Errorf("%s as %s: %d %s", path, form, resp.StatusCode, b)
			}
		}
		// A PAT is for the strings application: TMS's whoAmI refuses it
		// as /auth/verify?audience=tms does (SPEC §4).
		if resp, b := usePAT(t, s, "/api2/v1/auth/whoAmI", form, withOpenID); resp.StatusCode != 401 {
			t.Errorf("whoAmI as %s: %d %s, want 401", form, resp.StatusCode, b)
		}
		// /userinfo needs openid: a PAT without it is refused as
		// insufficient_scope, not as an invalid token.
		resp, _ := usePAT(t, s, "/userinfo", form, plain)
		if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("/userinfo without openid as %s: %d %q", form, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// /user shows the email only with user.email.
	if _, b := usePAT(t, s, "/user", "token", plain); strings.Contains(string(b), "lena@example.com") {
		t.Errorf("/user shows the email to a PAT without user.email: %s", b)
	}
	// The principal records the dialect.
	p, err := s.Tolk.PATs.Verify(t.Context(), plain)
	if err != nil || p.Method != "pat" || p.User == nil || p.User.UserName != "lena" ||
		strings.Join(p.Audiences, ",") != "strings" || strings.Join(p.Scopes, ",") != "read" {
		t.Errorf("principal = %+v, %v", p, err)
	}
	none := c.create(`{"note":"none"}`).Token
	if p, err := s.Tolk.PATs.Verify(t.Context(), none); err != nil || p.Scopes == nil || p.HasScope("read") {
		t.Errorf("a PAT without scopes must have none: %+v %v", p.Scopes, err)
	}
}

// TestV2UserShowsEmail: Strings has no email scope, so GET /v2/user shows
// the email to every personal access token in every form it is sent in,
// while ProZ's GET /user keeps it behind user.email (SPEC §4).
func TestV2UserShowsEmail(t *testing.T) {
	s, c := setup(t)
	tokens := map[string]string{
		"read":      c.create(`{"note":"read","scopes":["read"]}`).Token,
		"no scopes": c.create(`{"note":"none"}`).Token,
		"write":     c.create(`{"note":"write","scopes":["write"]}`).Token,
	}
	for name, tok := range tokens {
		for _, form := range []string{"token", "bearer", "basic"} {
			t.Run(name+" as "+form, func(t *testing.T) {
				resp, b := usePAT(t, s, "/v2/user", form, tok)
				var u struct{ Username, Email string }
				if err := json.Unmarshal(b, &u); err != nil || resp.StatusCode != 200 || u.Username != "lena" || u.Email != "lena@example.com" {
					t.Errorf("/v2/user: %d %s, want lena with her email", resp.StatusCode, b)
				}
				resp, b = usePAT(t, s, "/user", form, tok)
				if resp.StatusCode != 200 || strings.Contains(string(b), "lena@example.com") || strings.Contains(string(b), `"email"`) {
					t.Errorf("/user: %d %s, want no email without user.email", resp.StatusCode, b)
				}
			})
		}
	}
	withEmail := c.create(`{"note":"email","scopes":["user.email"]}`).Token
	if _, b := usePAT(t, s, "/user", "token", withEmail); !strings.Contains(string(b), `"email":"lena@example.com"`) {
		t.Errorf("/user with user.email: %s, want the email", b)
	}
}

// TestT40_DeletedPATFailsAtOnce: deleting a token ends it on the next request.
func TestT40_DeletedPATFailsAtOnce(t *testing.T) {
	s, c := setup(t)
	a := c.create(`{"note":"n","scopes":["read"]}`)
	if resp, _ := usePAT(t, s, "/v2/user", "token", a.Token); resp.StatusCode != 200 {
		t.Fatalf("before delete: %d", resp.StatusCode)
	}
	if resp, _ := c.do("DELETE", "/v2/authorizations/"+a.ID, ""); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	for _, form := range []string{"token", "bearer", "basic"} {
		if resp, _ := usePAT(t, s, "/v2/user", form, a.Token); resp.StatusCode != 401 {
			t.Errorf("deleted PAT as %s: %d, want 401", form, resp.StatusCode)
		}
	}
}

// TestT40_ExpiredPATFailsAtOnce: expires_at is enforced on the server clock.
func TestT40_ExpiredPATFailsAtOnce(t *testing.T) {
	s, c := setup(t)
	exp := s.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	a := c.create(`{"note":"n","expires_at":"` + exp + `"}`)
	if resp, _ := usePAT(t, s, "/v2/user", "token", a.Token); resp.StatusCode != 200 {
		t.Fatalf("before expiry: %d", resp.StatusCode)
	}
	s.Clock.Advance(time.Hour)
	for _, path := range []string{"/user", "/v2/user"} {
		if resp, _ := usePAT(t, s, path, "token", a.Token); resp.StatusCode != 401 {
			t.Errorf("%s after expiry: %d, want 401", path, resp.StatusCode)
		}
	}
}

// TestT40_PATWrongSchemeRefused: only token, Bearer and Basic with an empty
// password carry a PAT.
func TestT40_PATWrongSchemeRefused(t *testing.T) {
	s, c := setup(t)
	tok := c.create(`{"note":"n","scopes":["read"]}`).Token
	tests := []struct{ name, header string }{
		{"basic with password", "Basic " + base64.StdEncoding.EncodeToString([]byte(tok+":secret"))},
		{"ApiToken scheme", "ApiToken " + tok},
		{"uppercase token", "token " + strings.ToUpper(tok)},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", s.URL+"/v2/user", nil)
		req.Header.Set("Authorization", tt.header)
		if resp, _ := s.Do(t, req); resp.StatusCode != 401 {
			t.Errorf("%s: %d, want 401", tt.name, resp.StatusCode)
		}
	}
	// Nor in the query string.
	if resp, _ := s.Do(t, mustReq(t, "GET", s.URL+"/v2/user?access_token="+tok)); resp.StatusCode != 401 {
		t.Errorf("PAT in the query: %d, want 401", resp.StatusCode)
	}
}

func mustReq(t *testing.T, method, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestT40_PATCannotManagePATs: a PAT in any form cannot call the
// Authorizations API, so a leaked token cannot mint or extend tokens
// (scope escalation).
func TestT40_PATCannotManagePATs(t *testing.T) {
	s, c := setup(t)
	a := c.create(`{"note":"n","scopes":["read"]}`)
	nc := client{t: t, s: s}
	headers := []string{
		"token " + a.Token,
		"Bearer " + a.Token,
		"Basic " + base64.StdEncoding.EncodeToString([]byte(a.Token+":")),
	}
	for _, h := range headers {
		for _, req := range []struct{ method, path, body string }{
			{"POST", "/v2/authorizations", `{"note":"escalate","scopes":["read","write","team.manage"]}`},
			{"GET", "/v2/authorizations", ""},
			{"PATCH", "/v2/authorizations/" + a.ID, `{"scopes":["team.manage"],"expires_at":null}`},
			{"DELETE", "/v2/authorizations/" + a.ID, ""},
		} {
			resp, b := nc.do(req.method, req.path, req.body, "Authorization", h)
			if resp.StatusCode != 401 || !strings.Contains(string(b), `"message"`) {
				t.Errorf("%s %s with %q: %d %s", req.method, req.path, h[:6], resp.StatusCode, b)
			}
		}
	}
	if n := count(t, c); n != 1 {
		t.Errorf("%d tokens, want 1", n)
	}
	resp, b := c.do("GET", "/v2/authorizations/"+a.ID, "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"scopes":["read"]`) {
		t.Errorf("token changed: %s", b)
	}
}

// TestT40_ScopesAreOnlyThoseRequested: the PAT carries exactly its scopes.
func TestT40_ScopesAreOnlyThoseRequested(t *testing.T) {
	s, c := setup(t)
	tok := c.create(`{"note":"n","scopes":["read"]}`).Token
	p, err := s.Tolk.PATs.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []string{"write", "openid", "user.email", "team.manage"} {
		if p.HasScope(sc) {
			t.Errorf("PAT with [read] has %s", sc)
		}
	}
}

// TestT34_StoredTokenIsOnlyAHash: the SQLite file never holds the token.
func TestT34_StoredTokenIsOnlyAHash(t *testing.T) {
	s, c := setup(t)
	a := c.create(`{"note":"n","scopes":["read"]}`)
	usePAT(t, s, "/v2/user", "token", a.Token)
	path := strings.TrimPrefix(s.Tolk.Config.DB, "sqlite:")
	matches, _ := filepath.Glob(path + "*") // the database, its WAL and SHM
	found := false
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(a.Token)) {
			t.Errorf("%s contains the token", m)
		}
		found = found || bytes.Contains(b, []byte(a.HashedToken))
	}
	if !found {
		t.Errorf("the hash is not in the database files %v either: the check looks at the wrong files", matches)
	}
}

// TestT36_NoTokenInLogs: neither PATs nor passwords reach the logs.
func TestT36_NoTokenInLogs(t *testing.T) {
	s, c := setup(t)
	a := c.create(`{"note":"n","scopes":["read"]}`)
	for _, form := range []string{"token", "bearer", "basic"} {
		usePAT(t, s, "/v2/user", form, a.Token)
	}
	usePAT(t, s, "/v2/user?token="+a.Token, "none", "")
	c.do("DELETE", "/v2/authorizations/"+a.ID, "")
	usePAT(t, s, "/v2/user", "token", a.Token)
	logs := s.Logs.String()
	if !strings.Contains(logs, "/v2/authorizations") {
		t.Fatal("no access log captured")
	}
	for _, secret := range []string{a.Token, pw, base64.StdEncoding.EncodeToString([]byte("lena:" + pw))} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain a secret %q…", secret[:6])
		}
	}
}

// TestT44_SQLInjectionInNote: payloads are stored and returned verbatim,
// on SQLite and PostgreSQL.
func TestT44_SQLInjectionInNote(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			s, c := setup(t, tolktest.Options{Postgres: pg})
			payloads := []string{`' OR 1=1--`, `"; DROP TABLE personal_access_tokens;--`, `'); DELETE FROM users;--`, `\'; SELECT 1; --`}
			for _, p := range payloads {
				body, _ := json.Marshal(map[string]any{"note": p, "scopes": []string{"read"}})
				a := c.create(string(body))
				if a.Note != p {
					t.Errorf("note = %q, want %q", a.Note, p)
				}
				resp, b := c.do("PATCH", "/v2/authorizations/"+a.ID, string(body))
				if resp.StatusCode != 200 {
					t.Errorf("patch: %d %s", resp.StatusCode, b)
				}
			}
			if n := count(t, c); n != len(payloads) {
				t.Errorf("%d tokens, want %d", n, len(payloads))
			}
			if _, err := s.Store.GetUserByUserName(t.Context(), "lena"); err != nil {
				t.Errorf("user gone: %v", err)
			}
		})
	}
}
