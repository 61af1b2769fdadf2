package forwardauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/verify"
)

// requireSlow is what the handler did before require: r.URL.Query().
func requireSlow(raw string) verify.Require {
	q, _ := url.ParseQuery(raw)
	var scopes []string
	for _, v := range q["scope"] {
		scopes = append(scopes, splitList(v)...)
	}
	return verify.Require{Audience: q.Get("audience"), Scopes: scopes}
}

var requireQueries = []string{
	"", "scope=read", "scope=read&audience=strings", "audience=a&audience=b", "scope=read,write&scope=admin",
	"scope=read%20write", "scope=read+write", "audience=str%69ngs", "scope", "scope=", "=read", "&&scope=read&",
	"scope=read;audience=x", "audience=a;b&audience=c", "audience=%zz&scope=read", "Scope=read&AUDIENCE=x",
	"scope=read&scope=read", "a=1&scope=%2C%2Cread%2C", "audience&audience=b",
}

// TestRequire: require reads what url.ParseQuery did, and still reads
// the scopes past ParseQuery's limit on parameters.
func TestRequire(t *testing.T) {
	for _, raw := range requireQueries {
		if got, want := require(raw), requireSlow(raw); !reflect.DeepEqual(got, want) {
			t.Errorf("require(%q) = %+v, want %+v", raw, got, want)
		}
	}
	many := "scope=admin" + strings.Repeat("&a=1", 10000)
	if got := require(many); !reflect.DeepEqual(got.Scopes, []string{"admin"}) {
		t.Errorf("past 10000 parameters: scopes %v, want [admin]", got.Scopes)
	}
}

func FuzzRequire(f *testing.F) {
	for _, raw := range requireQueries {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if got, want := require(raw), requireSlow(raw); !reflect.DeepEqual(got, want) {
			t.Errorf("require(%q) = %+v, want %+v", raw, got, want)
		}
	})
}

// TestAnswerHeaders: the ready-made headers of a cached verification are
// exactly verify.SetHeaders', and adding to one answer does not change
// the next.
func TestAnswerHeaders(t *testing.T) {
	for _, p := range []verify.Principal{
		{Subject: "u1", UserUID: "u1", UserName: "lena", Email: "l@x", Name: "Lena K", OrgUID: "o1", Method: verify.MethodAPIToken},
		{Subject: "c1", ClientID: "c1", Scopes: []string{"read", "write"}, Audiences: []string{"strings"}, Method: verify.MethodBearer,
			ExpiresAt: time.Unix(1900000000, 0)},
		{Subject: "u2", Scopes: []string{}, Audiences: []string{}, Method: verify.MethodJWT},
	} {
		want := http.Header{}
		verify.SetHeaders(want, p)
		a := newAnswerHeaders(p)
		got := http.Header{}
		a.set(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: got %v, want %v", p, got, want)
		}
		got.Add(verify.HeaderSubject, "extra")
		again := http.Header{}
		a.set(again)
		if !reflect.DeepEqual(again, want) {
			t.Errorf("an Add to one answer changed the next: %v", again)
		}
	}
}

// TestCachedAnswerIsTheUncachedOne: a cache hit answers the same headers
// as the verification that filled it.
func TestCachedAnswerIsTheUncachedOne(t *testing.T) {
	calls := 0
	a := &authn.Authenticator{PAT: func(ctx context.Context, tok string) (authn.Principal, error) {
		calls++
		return authn.Principal{Principal: verify.Principal{Method: verify.MethodPAT, ClientID: "c", Scopes: []string{"read"}, ExpiresAt: time.Now().Add(time.Hour)}}, nil
	}}
	h := &Handler{Resolver: &Resolver{Authn: a, Cache: &Cache{TTL: time.Minute}}}
	var answers []http.Header
	for range 3 {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/auth/verify?scope=read", nil)
		r.Header.Set("Authorization", "token "+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
		h.Verify(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		answers = append(answers, w.Header())
	}
	if calls != 1 {
		t.Errorf("authn called %d times, want 1 (then the cache)", calls)
	}
	for i := 1; i < len(answers); i++ {
		if !reflect.DeepEqual(answers[i], answers[0]) {
			t.Errorf("answer %d %v, want %v", i, answers[i], answers[0])
		}
	}
	if got := answers[0].Get(verify.HeaderScopes); got != "read" || !slices.Contains(answers[0].Values("Cache-Control"), "no-store") {
		t.Errorf("answer %v", answers[0])
	}
}

// TestForwardedNeverReadsOwnQueryToken: the verify URL's own query never
// presents a token, even when authn would read one and query_token is off
// in the handler, however the name is spelled.
func TestForwardedNeverReadsOwnQueryToken(t *testing.T) {
	for _, h := range []*Handler{{}, {QueryToken: true}} {
		for _, raw := range []string{"token=x", "scope=read&token=x", "%74oken=x", "scope=read&%74oken=x"} {
			r := httptest.NewRequest(http.MethodGet, "/auth/verify?"+raw, nil)
			if got := h.forwarded(r).URL.Query().Get("token"); got != "" {
				t.Errorf("query_token=%v %q: forwarded URL presents token %q", h.QueryToken, raw, got)
			}
		}
		r := httptest.NewRequest(http.MethodGet, "/auth/verify?scope=read", nil)
		if h.forwarded(r) != r {
			t.Errorf("query_token=%v: a query without a token was copied", h.QueryToken)
		}
	}
}

// TestForwardedOriginalURI: with query_token, the original URI's token
// (and only its query) is what the resolver sees; without, never.
func TestForwardedOriginalURI(t *testing.T) {
	for _, tc := range []struct {
		query       bool
		header, uri string
		want        string
	}{
		{true, "X-Forwarded-Uri", "/api/x?a=1&token=t1", "t1"},
		{true, "X-Original-URI", "/api/x?%74oken=t2", "t2"},
		{true, "X-Original-URI", "/api/x?a=1", ""},
		{false, "X-Forwarded-Uri", "/api/x?token=t1", ""},
	} {
		h := &Handler{QueryToken: tc.query}
		r := httptest.NewRequest(http.MethodGet, "/auth/verify?scope=read", nil)
		r.Header.Set(tc.header, tc.uri)
		f := h.forwarded(r)
		if got := f.URL.Query().Get("token"); got != tc.want {
			t.Errorf("%+v: token %q (URL %v), want %q", tc, got, f.URL, tc.want)
		}
	}
}

// TestCachedRequire: the remembered answers are require's, and the
// shared scope slices cannot be appended into.
func TestCachedRequire(t *testing.T) {
	var c requireCache
	for range 2 {
		for _, raw := range requireQueries {
			got := c.get(raw)
			if want := require(raw); !reflect.DeepEqual(got, want) && !(len(got.Scopes) == 0 && len(want.Scopes) == 0 && got.Audience == want.Audience) {
				t.Errorf("cachedRequire(%q) = %+v, want %+v", raw, got, want)
			}
			if cap(got.Scopes) != len(got.Scopes) {
				t.Errorf("cachedRequire(%q): scopes cap %d > len %d", raw, cap(got.Scopes), len(got.Scopes))
			}
		}
	}
}
