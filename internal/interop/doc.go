// Package interop holds tests that drive tolk with third-party OAuth 2.0
// and OpenID Connect clients (golang.org/x/oauth2, github.com/coreos/go-oidc)
// through the real login and consent forms.
package interop
