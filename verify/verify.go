// Package verify lets any net/http service accept the credentials that
// tolk issues, in every dialect tolk speaks, and decide per route which
// application (audience) and which scopes a request needs.
//
// # Credentials
//
// A request carries exactly one credential, read in this order
// (CredentialReader, ParseAuthorization):
//
//   - the API-key header (ProZ, default X-Proz-API-Key): method "apikey";
//   - Authorization: ApiToken <t> (TMS): "apitoken";
//   - Authorization: token <t>, or Basic with a personal access token as
//     the user name and an empty password (Strings): "pat";
//   - Authorization: Bearer <t>: a JWT (three dot-separated parts) is
//     verified locally ("jwt"); anything else is opaque ("bearer", or "pat"
//     for a Strings PAT sent as a bearer token);
//   - with Config.QueryToken, the TMS ?token= query parameter ("apitoken").
//
// Schemes are case-insensitive in ASCII only.
//
// # JWTs
//
// JWT access tokens (RFC 9068 "at+jwt": tolk's OAuth JWT access tokens and
// the Platform JWTs of token exchange) are verified locally against the
// issuer's JWKS. Algorithms are pinned to RS256, ES256 and EdDSA (Ed25519,
// which tolk signs with when configured to) and must match
// the alg of the JWK named by kid; tokens whose header carries jku, x5u,
// jwk, x5c or crit are refused; iss must equal Config.Issuer; exp and nbf
// are checked with Config.Leeway. The JWKS is fetched on first use, cached,
// refetched in the background after Config.JWKSMaxAge, and refetched when a
// token names an unknown kid (key rotation) if the cached set is older than
// Config.JWKSRefreshInterval (default 1 s): a flood of forged kids costs
// the issuer at most one fetch per interval, and cannot keep a genuine new
// key out, since tolk publishes a key long before it signs with it. A
// fetch runs on its own context, one at a time; requests that need it wait
// for it, and a client that goes away does not cancel it. A verified JWT is
// remembered by its SHA-256 for at most Config.CacheTTL (and never past
// its exp) to spare repeated signature checks; failures are not.
//
// A locally verified JWT is accepted until its exp even if the credential
// it was exchanged from is revoked in the meantime (SPEC §3.5): services
// that need revocation at once should send JWTs through VerifyURL instead
// (set Config.IntrospectJWTs).
//
// # Opaque credentials
//
// Every other credential is checked by calling tolk's forward-auth endpoint
// Config.VerifyURL (GET /auth/verify) with the credential's own headers and
// reading the X-Auth-* headers of its 200 answer; 401 means the credential
// is unknown, expired or revoked. Answers — positive and negative — are
// cached by the SHA-256 of the credential for at most Config.CacheTTL
// (default 5 s), never beyond the credential's expiry, so a logout or
// revocation is honoured within that bound. The cache holds at most
// Config.CacheSize entries. Transport errors and 5xx answers are not cached
// and become 503 responses.
//
// # Routes
//
// Middleware(Require{Audience, Scopes}) authenticates, then checks that the
// credential is meant for the audience (a credential that names no
// audiences is meant for all) and carries every scope. Only an ApiToken and
// an API key carry their user's whole access (they name no scopes); an
// OAuth token, a Platform JWT and a personal access token carry exactly the
// scopes they name — a JWT without a scope claim carries none. The
// principal is put in the request context (FromContext).
// Failures are answered per RFC 6750 §3: 401 with
// `WWW-Authenticate: Bearer realm="…"` when there is no credential; 401 with
// error="invalid_token" for a bad, expired or revoked credential and for a
// credential of another application; 403 with error="insufficient_scope"
// and scope="…" for missing scopes. Config.ErrorHandler replaces these
// answers.
//
// # In-process use
//
// A Resolver replaces both paths: tolk plugs its credential store in
// through Config.Resolver, reading credentials with the same
// CredentialReader, and checks its own resource endpoints with the same
// Check. Principal carries nothing resolver-specific: a resolver whose own
// callers need more (tolk's user record) gives them its own type, which
// embeds Principal.
//
// The package depends only on the standard library and go-jose.
package verify

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Method names the dialect a credential came from (tolk's X-Auth-Method).
type Method string

// The methods.
const (
	MethodAPIToken Method = "apitoken" // TMS ApiToken
	MethodBearer   Method = "bearer"   // opaque OAuth access token
	MethodJWT      Method = "jwt"      // JWT access token (OAuth RFC 9068 or Platform exchange)
	MethodPAT      Method = "pat"      // Strings personal access token
	MethodAPIKey   Method = "apikey"   // ProZ API key
)

// Principal is who a request acts for.
type Principal struct {
	Subject   string   // user uid, or the client id of a client_credentials token
	UserUID   string   // empty for a token that names no user
	UserName  string   // empty when the credential does not say (local JWTs)
	Email     string   // empty when unknown
	Name      string   // display name, empty when unknown
	OrgUID    string   // organization uid
	ClientID  string   // OAuth client, if any
	Scopes    []string // nil: the user's whole access for an ApiToken or API key (Method.WholeAccess), none for any other
	Audiences []string // applications the credential is for; nil: every one
	Method    Method
	ExpiresAt time.Time // zero: does not expire (or unknown)
}

// WholeAccess reports whether a credential of method m carries its user's
// whole access when it names no scopes: a TMS ApiToken and a ProZ API key
// do; OAuth and Platform tokens (bearer, jwt) and personal access tokens
// mean exactly the scopes they name, and so does a credential whose method
// is unknown.
func (m Method) WholeAccess() bool {
	return m == MethodAPIToken || m == MethodAPIKey
}

// HasScope reports whether the principal may act with scope s.
func (p Principal) HasScope(s string) bool {
	if p.Scopes == nil {
		return p.Method.WholeAccess()
	}
	return slices.Contains(p.Scopes, s)
}

// ForAudience reports whether the credential is meant for application aud.
func (p Principal) ForAudience(aud string) bool {
	return aud == "" || p.Audiences == nil || slices.Contains(p.Audiences, aud)
}

// Require is what a route needs.
type Require struct {
	Audience string   // application the route belongs to; empty: any
	Scopes   []string // all required
}

// Errors. Resolvers return ErrInvalid (possibly wrapped) for a credential
// that is unknown, expired or revoked, and ErrNoCredentials when the
// request carries none.
var (
	ErrNoCredentials     = errors.New("verify: no credentials")
	ErrInvalid           = errors.New("verify: invalid credentials")
	ErrWrongAudience     = errors.New("verify: credential for another application")
	ErrInsufficientScope = errors.New("verify: insufficient scope")
	ErrUnavailable       = errors.New("verify: issuer unavailable")
)

// ScopeError is an ErrInsufficientScope naming the scopes a route needs.
type ScopeError struct{ Scopes []string }

func (e *ScopeError) Error() string {
	return ErrInsufficientScope.Error() + ": " + strings.Join(e.Scopes, " ")
}

// Is makes errors.Is(err, ErrInsufficientScope) hold.
func (e *ScopeError) Is(target error) bool { return target == ErrInsufficientScope }

// Check tells whether p satisfies req: nil, ErrWrongAudience or a
// *ScopeError.
func Check(p Principal, req Require) error {
	if !p.ForAudience(req.Audience) {
		return ErrWrongAudience
	}
	for _, s := range req.Scopes {
		if !p.HasScope(s) {
			return &ScopeError{Scopes: req.Scopes}
		}
	}
	return nil
}

// Resolver resolves a request's credential to a principal in-process.
type Resolver interface {
	Resolve(r *http.Request) (Principal, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(r *http.Request) (Principal, error)

// Resolve implements Resolver.
func (f ResolverFunc) Resolve(r *http.Request) (Principal, error) { return f(r) }

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal the middleware put in ctx.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// WriteError answers err per RFC 6750 §3 with the given realm: 401 and a
// bare challenge for no credentials; 401 invalid_token for invalid
// credentials and those of another application; 403 insufficient_scope;
// 503 when the issuer could not be asked; 500 otherwise. The body is a
// small JSON object with error and error_description.
func WriteError(w http.ResponseWriter, realm string, err error) {
	if realm == "" {
		realm = "tolk"
	}
	status, code, desc, scope := Classify(err)
	h := w.Header()
	challenge := `Bearer realm="` + quote(realm) + `"`
	if code != "" && status != http.StatusServiceUnavailable && status != http.StatusInternalServerError {
		challenge += `, error="` + code + `", error_description="` + quote(desc) + `"`
		if scope != "" {
			challenge += `, scope="` + quote(scope) + `"`
		}
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		h.Set("WWW-Authenticate", challenge)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body := `{"error":"` + code + `","error_description":"` + jsonEscape(desc) + `"}`
	if code == "" {
		body = `{"error":"unauthorized","error_description":"` + jsonEscape(desc) + `"}`
	}
	_, _ = w.Write([]byte(body + "\n"))
}

// Classify maps an error of Verify or Check to its RFC 6750 answer: HTTP
// status, error code ("" for a bare challenge), description and, for
// insufficient_scope, the scopes needed.
func Classify(err error) (status int, code, desc, scope string) {
	var se *ScopeError
	switch {
	case errors.Is(err, ErrNoCredentials):
		return http.StatusUnauthorized, "", "credentials are required", ""
	case errors.Is(err, ErrWrongAudience):
		return http.StatusUnauthorized, "invalid_token", "the token is not meant for this application", ""
	case errors.As(err, &se):
		return http.StatusForbidden, "insufficient_scope", "the token lacks a required scope", strings.Join(se.Scopes, " ")
	case errors.Is(err, ErrInsufficientScope):
		return http.StatusForbidden, "insufficient_scope", "the token lacks a required scope", ""
	case errors.Is(err, ErrInvalid):
		return http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked", ""
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, "temporarily_unavailable", "the credential cannot be checked now", ""
	}
	return http.StatusInternalServerError, "server_error", "internal error", ""
}

func quote(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return '\''
		}
		return r
	}, s)
}

func jsonEscape(s string) string { return quote(s) }
