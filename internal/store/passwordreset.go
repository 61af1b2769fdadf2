package store

import (
	"context"
	"time"
)

// PasswordReset is a link that lets one user choose a password (SPEC §8):
// asked for at /forgot-password, sent by an admin, or an invitation. Only
// the SHA-256 of its token is stored; it works once, until ExpiresAt, and
// only for UserUID.
type PasswordReset struct {
	Hash      string // hex SHA-256 of the token
	UserUID   string
	Purpose   string // "reset", "admin_reset" or "invitation"
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PasswordResets stores password-reset links. Redeeming one is one atomic
// method, so a link works exactly once under any concurrency.
type PasswordResets interface {
	CreatePasswordReset(ctx context.Context, r PasswordReset) error
	// GetPasswordReset returns the link whatever its expiry; callers check
	// it. ErrNotFound when there is none (or it was used).
	GetPasswordReset(ctx context.Context, hash string) (PasswordReset, error)
	// RedeemPasswordReset uses the link hash of userUID that has not
	// expired at `at`: in one transaction it deletes the link, sets the
	// user's password hash (at becomes UpdatedAt and LastInvalidateAll),
	// deletes every other link, web session, pending two-factor sign-in
	// and ApiToken of the user. Of concurrent callers exactly one
	// succeeds; the others, and a link that is unknown, expired or of
	// another user, get ErrNotFound and change nothing.
	RedeemPasswordReset(ctx context.Context, hash, userUID, passwordHash string, at time.Time) error
	// DeletePasswordResets deletes every outstanding link of the user (the
	// password changed another way, or the user was deactivated).
	DeletePasswordResets(ctx context.Context, userUID string) error
}
