package authn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tolk-project/tolk/internal/kit/reqctx"
)

// Unknown-credential limits (SECURITY.md T41; SPEC §7): every credential
// that a verifier reports invalid (unknown, expired, revoked) spends a
// token of the client address's bucket in Failures; while the bucket is
// empty, the address's credentials are refused with *ThrottledError
// before any lookup. Guessing a 256-bit token is hopeless anyway: the
// limit bounds the database work a spray of made-up tokens costs, and
// holds across instances with a shared backend.

// ThrottledError is returned (inside *Error) by a verifier that refuses
// to check more credentials from this client for now.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string { return "authn: too many failed attempts" }

// Is makes a ThrottledError count as ErrInvalid for callers that know
// nothing of throttling: they answer 401, never 500. Callers that know
// answer 429 with Retry-After.
func (e *ThrottledError) Is(target error) bool { return target == ErrInvalid }

// failureKey is the Failures key of the request's client address.
func failureKey(ctx context.Context) string { return "t:" + reqctx.From(ctx).ClientIP }

// limitedVerify runs check under Failures.
func (a *Authenticator) limitedVerify(ctx context.Context, check VerifyFunc, value string) (Principal, error) {
	if a.Failures == nil {
		return check(ctx, value)
	}
	key := failureKey(ctx)
	d, err := a.Failures.Check(ctx, key)
	if err != nil {
		return Principal{}, fmt.Errorf("authn: rate limit: %w", err)
	}
	if !d.OK {
		return Principal{}, &ThrottledError{RetryAfter: d.RetryAfter}
	}
	p, err := check(ctx, value)
	var th *ThrottledError
	if errors.Is(err, ErrInvalid) && !errors.As(err, &th) {
		if ferr := a.Failures.Fail(ctx, key); ferr != nil {
			return Principal{}, fmt.Errorf("authn: rate limit: %w", ferr)
		}
	}
	return p, err
}
