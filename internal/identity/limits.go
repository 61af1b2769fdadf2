package identity

import (
	"context"
	"fmt"

	"github.com/tolk-project/tolk/internal/ratelimit"
)

// checkLimits refuses the attempt with *ThrottledError when any of keys'
// buckets in l is empty. A failing limiter backend refuses too (fail
// closed): an outage must not open the door to unlimited guessing.
func checkLimits(ctx context.Context, l ratelimit.Limiter, keys ...string) error {
	for _, k := range keys {
		d, err := l.Check(ctx, k)
		if err != nil {
			return fmt.Errorf("identity: rate limit: %w", err)
		}
		if !d.OK {
			return &ThrottledError{RetryAfter: d.RetryAfter, Limit: d.Limit}
		}
	}
	return nil
}

// failLimits records one failure for each key. Errors of the backend are
// returned; the caller still answers the failure.
func failLimits(ctx context.Context, l ratelimit.Limiter, keys ...string) error {
	for _, k := range keys {
		if err := l.Fail(ctx, k); err != nil {
			return fmt.Errorf("identity: rate limit: %w", err)
		}
	}
	return nil
}

// checkLogin applies the login limits: the user keys (userKey, if not
// empty, and more) in UserLimit, addrKey in AddrLimit. A refusal is
// counted as "throttled".
func (s *Service) checkLogin(ctx context.Context, dialect, userKey, addrKey string, more ...string) error {
	keys := more
	if userKey != "" {
		keys = append([]string{userKey}, more...)
	}
	err := checkLimits(ctx, s.UserLimit, keys...)
	if err == nil {
		err = checkLimits(ctx, s.AddrLimit, addrKey)
	}
	if _, ok := err.(*ThrottledError); ok {
		s.outcome(dialect, "throttled")
	}
	return err
}

// failLogin records a failed login for the user keys and the address.
func (s *Service) failLogin(ctx context.Context, userKey, addrKey string, more ...string) error {
	keys := more
	if userKey != "" {
		keys = append([]string{userKey}, more...)
	}
	if err := failLimits(ctx, s.UserLimit, keys...); err != nil {
		return err
	}
	return failLimits(ctx, s.AddrLimit, addrKey)
}
