package store

import (
	"context"
	"time"
)

// Sessions lists and ends a user's web sessions and ApiTokens one by one
// for the sessions page (SPEC §8), and records their use.
type Sessions interface {
	// ListWebSessions returns at most limit of the user's web sessions not
	// expired at now, most recently signed in first (ties by hash), and
	// how many the user has.
	ListWebSessions(ctx context.Context, userUID string, now time.Time, limit int) ([]WebSession, int, error)
	// TouchWebSession records that the session was seen at `at` from
	// address with userAgent. It never moves LastSeenAt back; an unknown
	// hash is not an error.
	TouchWebSession(ctx context.Context, hash string, at time.Time, address, userAgent string) error
	// DeleteUserWebSession deletes the user's session with this hash
	// atomically (of concurrent calls exactly one reports true); another
	// user's session is not deleted and reports false.
	DeleteUserWebSession(ctx context.Context, userUID, hash string) (bool, error)

	// ListAPITokens is ListWebSessions for ApiTokens, newest first.
	ListAPITokens(ctx context.Context, userUID string, now time.Time, limit int) ([]APIToken, int, error)
	// TouchAPIToken records a use at `at`; it never moves LastUsedAt
	// back. An unknown hash is not an error.
	TouchAPIToken(ctx context.Context, hash string, at time.Time) error
	// DeleteUserAPIToken is DeleteUserWebSession for ApiTokens.
	DeleteUserAPIToken(ctx context.Context, userUID, hash string) (bool, error)
}
