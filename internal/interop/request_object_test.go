package interop

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestRequestObjectsRefused: tolk supports neither request objects nor
// request_uri, and says so: the discovery document states both as false,
// and an authorization request carrying either is answered at the
// redirect URI with request_not_supported or request_uri_not_supported
// and its state (OIDC Core §6, §3.1.2.6), never served while the
// parameters inside the object are ignored.
func TestRequestObjectsRefused(t *testing.T) {
	t.Parallel()
	e := azNewEnv(t, azHybridSpec())
	// A request object that asks for more than the query does.
	const object = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCBlbWFpbCIsIm1heF9hZ2UiOjB9."
	b := e.signedIn(t)
	// A standing consent: without the check, the request would get a
	// code at once.
	if p := b.Authorize(t, azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", "code",
		"scope", "openid", "state", "c"), "", "", "allow"); azAssertClientRedirect(t, p, azGoodRedirect).Get("code") == "" {
		t.Fatal("no code for the consent")
	}
	cases := []struct {
		name, param, value, responseType, want string
	}{
		{"request, code", "request", object, "code", "request_not_supported"},
		{"request_uri, code", "request_uri", "https://app.example/requests/1", "code", "request_uri_not_supported"},
		{"request_uri, urn", "request_uri", "urn:ietf:params:oauth:request_uri:abc", "code", "request_uri_not_supported"},
		{"request, code id_token (fragment)", "request", object, "code id_token", "request_not_supported"},
		{"request_uri, empty", "request_uri", "", "code", "request_uri_not_supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := azAuthURL(e.s.URL, "client_id", e.client.ID, "redirect_uri", azGoodRedirect, "response_type", tc.responseType,
				"scope", "openid", "nonce", "n", "state", "s16")
			u += "&" + tc.param + "=" + tc.value // also when empty: the parameter is there
			p := b.Get(t, u)
			azAssertRedirectError(t, p, azGoodRedirect, tc.want, "s16", e.s.URL)
			if tc.responseType != "code" && p.Location.Fragment == "" {
				t.Errorf("error of a %s request not in the fragment: %s", tc.responseType, p.Location)
			}
		})
	}

	req, _ := http.NewRequest(http.MethodGet, e.s.URL+"/.well-known/openid-configuration", nil)
	resp, body := e.s.Do(t, req)
	var md map[string]any
	if err := json.Unmarshal(body, &md); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("discovery: %d %v", resp.StatusCode, err)
	}
	// Stated, not left out: request_uri_parameter_supported defaults to
	// true (OIDC Discovery §3).
	for _, k := range []string{"request_parameter_supported", "request_uri_parameter_supported"} {
		if v, ok := md[k]; !ok || v != false {
			t.Errorf("discovery %s = %v (present %v), want false", k, v, ok)
		}
	}
}
