package store

import (
	"context"
	"time"
)

// UserAdmin holds the admin operations on users (SPEC §5: create,
// deactivate, role).
type UserAdmin interface {
	// SetUserActive activates or deactivates the user; at becomes
	// UpdatedAt. Deactivating also ends, in the same transaction, every
	// web session, pending two-factor sign-in, ApiToken, OAuth access
	// token, refresh token (whole families) and password-reset link of
	// the user (reactivation brings no old link back), and records
	// at as LastInvalidateAll. The user's PATs, API keys and Platform API
	// tokens stay (reactivation restores them) but every verifier refuses
	// an inactive user's credentials. Setting the current state again is
	// not an error. An unknown uid is ErrNotFound. Deactivating stores
	// cuts in the same transaction (activating ignores them).
	SetUserActive(ctx context.Context, uid string, active bool, at time.Time, cuts ...Cutoff) error
	// SetUserRole changes the user's role; at becomes UpdatedAt. An
	// unknown uid is ErrNotFound.
	SetUserRole(ctx context.Context, uid string, role Role, at time.Time) error
}
