package verify_test

import (
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tolk-project/tolk/verify"
)

// TestIdentityHeadersAreWhatSetHeadersWrites: the proxy configurations and
// their tests clear every name in IdentityHeaders, so it must list every
// header SetHeaders writes. Every field of the principal is filled by
// reflection, so a header added for a new field shows up here too.
func TestIdentityHeadersAreWhatSetHeadersWrites(t *testing.T) {
	var p verify.Principal
	v := reflect.ValueOf(&p).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(time.Unix(1e9, 0)))
		case f.Kind() == reflect.String:
			f.SetString("x")
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{"x"}).Convert(f.Type()))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Interface:
			f.Set(reflect.ValueOf("x"))
		default:
			t.Fatalf("field %s of kind %s: teach this test to fill it", v.Type().Field(i).Name, f.Kind())
		}
	}
	h := http.Header{}
	verify.SetHeaders(h, p)
	var written []string
	for k := range h {
		written = append(written, k)
	}
	want := verify.IdentityHeaders()
	for _, name := range want {
		if name != http.CanonicalHeaderKey(name) {
			t.Errorf("%q is not in canonical form", name)
		}
	}
	slices.Sort(written)
	slices.Sort(want)
	if !slices.Equal(written, want) {
		t.Errorf("SetHeaders writes %v; IdentityHeaders lists %v", written, want)
	}
}

// TestSetHeadersValuesAreTheirOwn: SetHeaders' values share one array;
// adding to one header leaves every other as it was, and the headers
// cost one allocation besides the expiry's digits (an ES256 JWT's
// principal: one scope, one audience).
func TestSetHeadersValuesAreTheirOwn(t *testing.T) {
	p := verify.Principal{Subject: "u1", UserName: "ann", OrgUID: "o1", ClientID: "c1", Method: verify.MethodJWT,
		Scopes: []string{"read"}, Audiences: []string{"strings"}, ExpiresAt: time.Unix(2e9, 0), Email: "ann@example.com", Name: "Ann"}
	h := http.Header{}
	verify.SetHeaders(h, p)
	want := h.Clone()
	for _, k := range verify.IdentityHeaders() {
		h.Add(k, "added")
		for k2, v := range want {
			if k2 != k && !slices.Equal(h[k2], v) {
				t.Fatalf("adding to %s changed %s to %q", k, k2, h[k2])
			}
		}
		h[k] = want[k]
	}
	if got := verify.PrincipalFromHeaders(h); got.Subject != "u1" || got.UserName != "ann" || !slices.Equal(got.Scopes, p.Scopes) ||
		!slices.Equal(got.Audiences, p.Audiences) || !got.ExpiresAt.Equal(p.ExpiresAt) {
		t.Fatalf("read back %+v", got)
	}
	h = make(http.Header, 16)
	if n := testing.AllocsPerRun(100, func() { verify.SetHeaders(h, p) }); n > 2 {
		t.Fatalf("%v allocations, want at most 2", n)
	}
}
