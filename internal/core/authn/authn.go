// Package authn resolves the credentials of any dialect on a request to one
// Principal: TMS ApiTokens, OAuth bearer tokens (opaque or JWT, including
// exchanged Platform JWTs), Strings personal access tokens and ProZ API
// keys. Each dialect's verifier is plugged in as a function, so this
// package knows the header grammar and nothing of storage.
package authn

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/store"
)

// Method names the dialect a credential came from (SPEC §4 X-Auth-Method).
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
	User      *store.User // nil for a client_credentials token
	OrgUID    string
	ClientID  string   // OAuth client, if any
	Scopes    []string // nil: all of its user's access for an ApiToken or API key (WholeAccess), none for any other
	Audiences []string // applications the credential is for; nil: every one
	Method    Method
	ExpiresAt time.Time // zero: does not expire
}

// Subject is the user uid, or the client id for a client_credentials token.
func (p Principal) Subject() string {
	if p.User != nil {
		return p.User.UID
	}
	return p.ClientID
}

// WholeAccess reports whether a credential of method m carries its user's
// whole access when it names no scopes: an ApiToken and an API key do by
// design; OAuth and Platform tokens and PATs mean exactly the scopes they
// name (verify.Method.WholeAccess is the same rule).
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
	return p.Audiences == nil || slices.Contains(p.Audiences, aud)
}

// Errors of Authenticate. Verifiers return ErrInvalid (possibly wrapped)
// for a credential that is unknown, expired or revoked.
var (
	ErrNoCredentials = errors.New("authn: no credentials")
	ErrInvalid       = errors.New("authn: invalid credentials")
	ErrMalformed     = errors.New("authn: malformed credentials")
)

// Error tells which dialect failed, so each can answer in its own shape.
type Error struct {
	Method Method
	Err    error
}

func (e *Error) Error() string { return string(e.Method) + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// VerifyFunc checks one credential value.
type VerifyFunc func(ctx context.Context, credential string) (Principal, error)

// Authenticator dispatches a request's credential to its dialect. A nil
// verifier means the dialect is not offered.
type Authenticator struct {
	APIKeyHeader string // default X-Proz-API-Key
	QueryToken   bool   // accept TMS ?token=

	APIToken    VerifyFunc
	AccessToken VerifyFunc // opaque tolk_at_ tokens and JWTs
	PAT         VerifyFunc
	APIKey      VerifyFunc

	// Failures, when set, limits failed credential lookups per client
	// address for every dialect (limits.go).
	Failures ratelimit.Limiter
}

// Authenticate resolves the request's credential. Exactly one credential
// is used: an API key header, else the Authorization header, else (TMS)
// the token query parameter.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	method, value, err := a.Credential(r)
	if err != nil {
		return Principal{}, err
	}
	var verify VerifyFunc
	switch method {
	case MethodAPIKey:
		verify = a.APIKey
	case MethodAPIToken:
		verify = a.APIToken
	case MethodPAT:
		verify = a.PAT
	case MethodBearer, MethodJWT:
		verify = a.AccessToken
	}
	if verify == nil {
		return Principal{}, &Error{Method: method, Err: ErrInvalid}
	}
	p, err := a.limitedVerify(r.Context(), verify, value)
	if err != nil {
		return Principal{}, &Error{Method: method, Err: err}
	}
	return p, nil
}

// Credential picks the request's credential and its dialect without
// verifying it.
func (a *Authenticator) Credential(r *http.Request) (Method, string, error) {
	header := a.APIKeyHeader
	if header == "" {
		header = "X-Proz-Api-Key" // canonical: Header.Get allocates for any other spelling
	}
	if k := r.Header.Get(header); k != "" {
		return MethodAPIKey, k, nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		return parseAuthorization(h)
	}
	if a.QueryToken {
		if t := r.URL.Query().Get("token"); t != "" {
			return MethodAPIToken, t, nil
		}
	}
	return "", "", ErrNoCredentials
}

// parseAuthorization reads the Authorization header grammar of every
// dialect. Schemes are case-insensitive (RFC 9110 §11.1).
func parseAuthorization(h string) (Method, string, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	rest = strings.TrimSpace(rest)
	if !ok || rest == "" {
		return "", "", &Error{Err: ErrMalformed}
	}
	switch asciiLower(scheme) {
	case "apitoken":
		return MethodAPIToken, rest, nil
	case "token":
		return MethodPAT, rest, nil
	case "bearer":
		if IsPAT(rest) {
			// Strings accepts its PATs as bearer tokens too.
			return MethodPAT, rest, nil
		}
		if strings.Count(rest, ".") == 2 {
			return MethodJWT, rest, nil
		}
		return MethodBearer, rest, nil
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", "", &Error{Err: ErrMalformed}
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		// Strings: a PAT as the Basic user name with an empty password.
		// Basic with a password is a password login, which only the
		// Authorizations API accepts.
		if !ok || pass != "" || !IsPAT(user) {
			return "", "", &Error{Method: MethodPAT, Err: ErrInvalid}
		}
		return MethodPAT, user, nil
	}
	return "", "", &Error{Err: ErrMalformed}
}

// IsPAT reports whether s has the shape of a Strings personal access token:
// 64 lowercase hex characters (the Phrase CLI checks this shape).
func IsPAT(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// asciiLower folds ASCII letters only: Unicode case folding would let
// "to\u212Aen" (with a Kelvin sign) pass for "token".
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
