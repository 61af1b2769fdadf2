package store

import (
	"context"
	"time"
)

// Expired names a kind of row that retention deletes once it has served its
// purpose (SPEC §9); the value is the table's name, also used as a metric
// label.
type Expired string

// The kinds of rows retention deletes.
const (
	ExpiredAuthCodes      Expired = "auth_codes"      // used or not
	ExpiredAccessTokens   Expired = "access_tokens"   // opaque and JWT
	ExpiredRefreshTokens  Expired = "refresh_tokens"  // only of dead families, see DeleteExpired
	ExpiredAPITokens      Expired = "api_tokens"      // TMS ApiTokens
	ExpiredWebSessions    Expired = "web_sessions"    //
	ExpiredPendingLogins  Expired = "pending_logins"  // sign-ins waiting for a second factor
	ExpiredPlatformTokens Expired = "platform_tokens" // those with an expiry
	ExpiredRateLimits     Expired = "rate_limits"     // full buckets: equal to no row
	ExpiredAuditEvents    Expired = "audit_events"    // older than the retention
	ExpiredPasswordResets Expired = "password_resets" // reset and invitation links
	// ExpiredAccessTokenCutoffs: cutoffs past their ExpiresAt.
	ExpiredAccessTokenCutoffs Expired = "access_token_cutoffs"
)

// ExpiredKinds lists every kind, in the order a sweep takes them.
func ExpiredKinds() []Expired {
	return []Expired{ExpiredAuthCodes, ExpiredAccessTokens, ExpiredRefreshTokens, ExpiredAPITokens,
		ExpiredWebSessions, ExpiredPendingLogins, ExpiredPlatformTokens, ExpiredRateLimits, ExpiredAuditEvents, ExpiredPasswordResets, ExpiredAccessTokenCutoffs}
}

// Retention deletes rows that no longer serve a purpose, a bounded number
// per statement, so that a sweep over a large backlog never holds a lock
// long enough to stall requests.
type Retention interface {
	// DeleteExpired deletes at most limit rows of kind that are past
	// `before`, in one statement, and returns how many it deleted; fewer
	// than limit means none was left. Past `before` means: expires before
	// it (rows without an expiry never go), for rate limits a bucket
	// instant not after it (full), for audit events a time before it.
	// Refresh tokens go only when their family is dead: no token of their
	// grant is unused and unexpired at `before` (a rotated token stays
	// while its family lives, so that its reuse is recognized).
	DeleteExpired(ctx context.Context, kind Expired, before time.Time, limit int) (int, error)
}

// Leases elect one process among all those on a database for a job, such
// as the retention sweep: a lease is a named row with its holder and an
// expiry, taken in one atomic statement.
type Leases interface {
	// TakeLease makes holder the holder of the lease name until `until`
	// when the lease is free, ran out before now, or is holder's already
	// (a renewal), and reports whether holder holds it. Of concurrent
	// callers with different holders at most one gets true.
	TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	// ReleaseLease frees the lease name if holder holds it.
	ReleaseLease(ctx context.Context, name, holder string) error
}
