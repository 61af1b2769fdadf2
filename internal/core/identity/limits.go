package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/kit/secret"
)

// Failure limits of passwords and second-factor codes (docs/limits.md).
// Every guess takes its tokens before it is checked
// (ratelimit.Reservation): the address's bucket in AddrLimit, then the
// user's in UserLimit. A wrong guess keeps them; anything else gives them
// back. So concurrent guesses, at one instance or many, are never more
// than the tokens left.
//
// The user's bucket is the account's whenever the name resolves to one
// (accountKey): its user name in any case and its email share one budget.
// A name that resolves to nobody is charged under the name as typed,
// case-folded (userLimitKey), so an unknown name is throttled exactly
// like a known one and throttling tells nothing about who exists.

// accountKey is the user failure limit's key of the account uid.
func accountKey(uid string) string { return "id:" + uid }

// userLimitKey is the user failure limit's key of a name that resolves to
// no account.
func userLimitKey(userName string) string {
	k := strings.ToLower(userName)
	if len(k) > 64 {
		// Bound the memory a limiter key takes: a login body may carry a
		// user name of up to a mebibyte.
		k = "#" + secret.Hash(k)
	}
	return "u:" + k
}

// addrLimitKey is the address failure limit's key of a client address.
func addrLimitKey(addr string) string { return "a:" + addr }

// take takes a token of key in l for the attempt res holds. When the
// bucket is empty or the backend fails, it gives back everything res
// holds and refuses: *ThrottledError (counted as "throttled" for dialect,
// if not empty), or the backend's error (fail closed: an outage must not
// open the door to unlimited guessing).
func (s *Service) take(ctx context.Context, dialect string, res *ratelimit.Reservation, l ratelimit.Limiter, key string) error {
	d, err := res.Take(ctx, l, key)
	if err == nil && d.OK {
		return nil
	}
	_ = res.Release(ctx) // a lost refund only makes the limit stricter
	if err != nil {
		return fmt.Errorf("identity: rate limit: %w", err)
	}
	if dialect != "" {
		s.outcome(dialect, "throttled")
	}
	return &ThrottledError{RetryAfter: d.RetryAfter, Limit: d.Limit}
}

// reserveAccount takes the tokens of a guess at a known account's
// password or code: the address's, then the account's.
func (s *Service) reserveAccount(ctx context.Context, dialect string, res *ratelimit.Reservation, uid, addr string) error {
	if err := s.take(ctx, dialect, res, s.AddrLimit, addrLimitKey(addr)); err != nil {
		return err
	}
	return s.take(ctx, dialect, res, s.UserLimit, accountKey(uid))
}

// settle ends a guess: a failure (err is ErrInvalidCredentials) keeps
// its tokens, any other outcome gives them back.
func settle(ctx context.Context, res *ratelimit.Reservation, err error) {
	if errors.Is(err, ErrInvalidCredentials) {
		res.Keep()
		return
	}
	_ = res.Release(ctx) // a lost refund only makes the limit stricter
}
