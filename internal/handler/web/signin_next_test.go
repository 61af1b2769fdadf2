package web

import "testing"

// TestAfterSignIn: a sign-in satisfies the prompt=login and max_age of the
// authorization request it leads back to, once; any other next is left
// as it is.
func TestAfterSignIn(t *testing.T) {
	cases := []struct{ next, want string }{
		{"/oauth/authorize?client_id=c&prompt=login", "/oauth/authorize?client_id=c"},
		{"/oauth/authorize?client_id=c&prompt=login+consent", "/oauth/authorize?client_id=c&prompt=consent"},
		{"/web/oauth/authorize?client_id=c&max_age=0", "/web/oauth/authorize?client_id=c"},
		{"/oauth/authorize?client_id=c&max_age=60&prompt=login&state=s", "/oauth/authorize?client_id=c&state=s"},
		{"/oauth/authorize?client_id=c&prompt=consent", "/oauth/authorize?client_id=c&prompt=consent"},
		{"/settings/oauth-apps?prompt=login&max_age=0", "/settings/oauth-apps?prompt=login&max_age=0"},
		{"/oauth/authorize/x?prompt=login", "/oauth/authorize/x?prompt=login"},
		{"/oauth/authorize?%zz&prompt=login", "/oauth/authorize?%zz&prompt=login"},
		{"/", "/"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := afterSignIn(tc.next); got != tc.want {
			t.Errorf("afterSignIn(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}
