package authz_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// FuzzParseAuthRequest: authorization requests with any parameters,
// against a real store with a confidential code client, a public PKCE
// client and an implicit client. The result is a *PageError (never a
// redirect) whenever the client or redirect URI cannot be trusted, else a
// *RedirectError whose target is a registered redirect URI, else a
// request that obeys the rules: registered redirect URI, a supported
// response type the app may use, known scopes the app may ask for, S256
// challenge of the right shape (required for public apps), nonce with
// id_token, prompt and max_age valid.
func FuzzParseAuthRequest(f *testing.F) {
	s := tolktest.New(f)
	ctx := context.Background()
	org, err := s.Store.DefaultOrganization(ctx)
	if err != nil {
		f.Fatal(err)
	}
	mk := func(spec authz.ClientSpec) string {
		spec.OrgUID = org.UID
		c, _, err := s.Tolk.Authz.CreateClient(ctx, spec)
		if err != nil {
			f.Fatal(err)
		}
		return c.ID
	}
	conf := mk(authz.ClientSpec{Name: "conf", RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid", "profile", "public"}})
	pub := mk(authz.ClientSpec{Name: "pub", RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.app:/cb"}, Public: true})
	impl := mk(authz.ClientSpec{Name: "impl", RedirectURIs: []string{"https://spa.example.com/cb"},
		GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantImplicit}})
	chal := oauth.S256(strings.Repeat("v", 43))
	for _, q := range []string{
		"client_id=" + conf + "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code&scope=openid&state=s",
		"client_id=" + conf + "&response_type=code",
		"client_id=" + conf + "&response_type=code&scope=openid",
		"client_id=" + conf + "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%2F&response_type=code",
		"client_id=" + conf + "&client_id=" + conf + "&response_type=code",
		"client_id=" + conf + "&response_type=code&scope=email",
		"client_id=" + conf + "&response_type=code&scope=openid&scope=profile",
		"client_id=" + conf + "&response_type=token",
		"client_id=" + conf + "&response_type=code&response_mode=form_post&prompt=none+login",
		"client_id=" + conf + "&response_type=code&max_age=-1",
		"client_id=" + conf + "&response_type=code&max_age=99999999999",
		"client_id=" + conf + "&response_type=code&code_challenge_method=plain&code_challenge=" + chal,
		"client_id=" + pub + "&redirect_uri=http%3A%2F%2F127.0.0.1%3A53124%2Fcb&response_type=code&code_challenge_method=S256&code_challenge=" + chal,
		"client_id=" + pub + "&redirect_uri=http%3A%2F%2F127.0.0.1%3A53124%2Fcb&response_type=code",
		"client_id=" + pub + "&redirect_uri=com.example.app%3A%2Fcb&response_type=code&code_challenge_method=S256&code_challenge=" + chal[:42] + "%2B",
		"client_id=" + impl + "&response_type=id_token+token&scope=openid&nonce=n",
		"client_id=" + impl + "&response_type=token+id_token&scope=openid",
		"client_id=" + impl + "&response_type=code+id_token&scope=openid&nonce=n&response_mode=query",
		"client_id=unknown&response_type=code",
		"client_id=%27+OR+1%3D1--&response_type=code",
		"response_type=code",
		"",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		p, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		ar, err := s.Tolk.Authz.ParseAuthRequest(ctx, p)
		var pe *authz.PageError
		var re *authz.RedirectError
		c, cerr := s.Store.GetClient(ctx, p.Get("client_id"))
		trusted := cerr == nil && len(p["client_id"]) == 1 && len(p["redirect_uri"]) <= 1 &&
			(p.Get("redirect_uri") == "" || oauth.MatchRedirectURI(c.RedirectURIs, p.Get("redirect_uri")))
		switch {
		case errors.As(err, &pe):
			if trusted && p.Get("redirect_uri") != "" {
				t.Fatalf("%q: page error %q for a trusted client and redirect", rawQuery, pe.Message)
			}
			if !strings.HasPrefix(pe.Message, "authorize.") {
				t.Fatalf("page error %q is not a catalog key", pe.Message)
			}
			return
		case errors.As(err, &re):
			if !trusted || re.Request == nil || !oauth.MatchRedirectURI(c.RedirectURIs, re.Request.RedirectURI) {
				t.Fatalf("%q: redirect error to an untrusted target: %v", rawQuery, err)
			}
			if re.Err == nil || re.Err.Code == "" || re.Request.State != p.Get("state") {
				t.Fatalf("%q: redirect error %+v", rawQuery, re.Err)
			}
			if (slices.Contains(strings.Fields(p.Get("response_type")), "token") || slices.Contains(strings.Fields(p.Get("response_type")), "id_token")) &&
				re.Request.ResponseMode == "query" {
				t.Fatalf("%q: token-flow error sent in the query", rawQuery)
			}
			return
		case err != nil:
			t.Fatalf("%q: error %v (%T)", rawQuery, err, err)
		}
		if !trusted || ar.Client.ID != c.ID || !oauth.MatchRedirectURI(c.RedirectURIs, ar.RedirectURI) {
			t.Fatalf("%q: accepted client %q redirect %q", rawQuery, ar.Client.ID, ar.RedirectURI)
		}
		for k, vs := range p {
			if len(vs) > 1 {
				t.Fatalf("%q: repeated %s accepted", rawQuery, k)
			}
		}
		rt := ar.ResponseType
		if len(rt) == 0 || !slices.IsSorted(rt) {
			t.Fatalf("%q: response type %q", rawQuery, rt)
		}
		if slices.Contains(rt, "code") && !slices.Contains(c.GrantTypes, oauth.GrantAuthorizationCode) ||
			(slices.Contains(rt, "token") || slices.Contains(rt, "id_token")) && !slices.Contains(c.GrantTypes, oauth.GrantImplicit) {
			t.Fatalf("%q: response type %q not allowed for grants %q", rawQuery, rt, c.GrantTypes)
		}
		if len(ar.Scopes) == 0 || !oauth.Subset(ar.Scopes, c.Scopes) || !oauth.Subset(ar.Scopes, s.Tolk.Config.Scopes) {
			t.Fatalf("%q: scopes %q (app %q)", rawQuery, ar.Scopes, c.Scopes)
		}
		if slices.Contains(rt, "id_token") && (ar.Nonce == "" || !slices.Contains(ar.Scopes, "openid")) {
			t.Fatalf("%q: id_token without nonce or openid", rawQuery)
		}
		if ar.Challenge != "" && (len(ar.Challenge) != 43 || p.Get("code_challenge_method") != "S256") {
			t.Fatalf("%q: challenge %q", rawQuery, ar.Challenge)
		}
		if c.Public && slices.Contains(rt, "code") && ar.Challenge == "" {
			t.Fatalf("%q: public app without PKCE", rawQuery)
		}
		if (slices.Contains(rt, "token") || slices.Contains(rt, "id_token")) && ar.ResponseMode == "query" {
			t.Fatalf("%q: tokens in the query", rawQuery)
		}
		if !slices.Contains([]string{"query", "fragment", "form_post"}, ar.ResponseMode) {
			t.Fatalf("%q: response mode %q", rawQuery, ar.ResponseMode)
		}
		if ar.HasPrompt("none") && len(ar.Prompt) > 1 {
			t.Fatalf("%q: prompt %q", rawQuery, ar.Prompt)
		}
		if ar.MaxAge != nil && *ar.MaxAge < 0 {
			t.Fatalf("%q: max_age %v", rawQuery, *ar.MaxAge)
		}
	})
}
