// Package authn resolves a credential of any dialect, as the verify
// package reads it from a request (verify.CredentialReader), to the
// principal it stands for: TMS ApiTokens, OAuth bearer tokens (opaque or
// JWT, including exchanged Platform JWTs), Strings personal access tokens
// and ProZ API keys. Each dialect's verifier is plugged in as a function,
// so this package knows neither HTTP nor storage.
package authn

import (
	"context"
	"strings"

	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/verify"
)

// Principal is who a request acts for, as tolk resolves it in-process:
// the verify package's principal, which decides audiences and scopes
// (verify.Check) and is what /auth/verify answers, with the user record
// tolk's own endpoints show.
type Principal struct {
	verify.Principal
	User *store.User // nil for a client_credentials token
}

// withUser fills in what the principal's fields say of its user (or, for
// a token without one, of its client).
func (p *Principal) withUser() {
	u := p.User
	if u == nil {
		p.Subject = p.ClientID
		return
	}
	p.Subject, p.UserUID, p.UserName, p.Email = u.UID, u.UID, u.UserName, u.Email
	p.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
}

// ErrInvalid is verify.ErrInvalid: verifiers return it (possibly wrapped)
// for a credential that is unknown, expired or revoked.
var ErrInvalid = verify.ErrInvalid

// Error tells which dialect failed, so each can answer in its own shape.
type Error struct {
	Method verify.Method
	Err    error
}

func (e *Error) Error() string { return string(e.Method) + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// VerifyFunc checks one credential value. It returns the principal with
// its User (or, without one, its ClientID) set; Authenticate derives the
// subject and the user's names from them.
type VerifyFunc func(ctx context.Context, credential string) (Principal, error)

// Authenticator dispatches a credential to its dialect. A nil verifier
// means the dialect is not offered.
type Authenticator struct {
	APIToken    VerifyFunc
	AccessToken VerifyFunc // opaque tolk_at_ tokens and JWTs
	PAT         VerifyFunc
	APIKey      VerifyFunc

	// Failures, when set, limits failed credential lookups per client
	// address (reqctx) for every dialect (limits.go).
	Failures ratelimit.Limiter
}

// Authenticate resolves c. Errors are *Error, wrapping ErrInvalid for a
// credential that is unknown, expired or revoked (or of a dialect not
// offered), *ThrottledError when the client is refused for now, or the
// verifier's own failure.
func (a *Authenticator) Authenticate(ctx context.Context, c verify.Credential) (Principal, error) {
	var verifier VerifyFunc
	switch c.Method {
	case verify.MethodAPIKey:
		verifier = a.APIKey
	case verify.MethodAPIToken:
		verifier = a.APIToken
	case verify.MethodPAT:
		verifier = a.PAT
	case verify.MethodBearer, verify.MethodJWT:
		verifier = a.AccessToken
	}
	if verifier == nil {
		return Principal{}, &Error{Method: c.Method, Err: ErrInvalid}
	}
	p, err := a.limitedVerify(ctx, verifier, c.Value)
	if err != nil {
		return Principal{}, &Error{Method: c.Method, Err: err}
	}
	p.withUser()
	return p, nil
}
