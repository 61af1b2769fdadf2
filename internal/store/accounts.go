package store

import (
	"context"
	"time"
)

// Profile is what a user may change of their own record on
// /settings/profile (SPEC §8).
type Profile struct {
	FirstName string
	LastName  string
	Email     string
	Language  string // a catalog's BCP 47 tag, or "" for the browser's
}

// Accounts holds the changes users make to their own accounts (SPEC §8),
// and that the CLI makes for them.
type Accounts interface {
	// ChangePassword sets the user's password hash and, in the same
	// transaction, ends every web session of the user but the one whose
	// hash is keepSession ("" keeps none), every pending two-factor
	// sign-in, every ApiToken and every outstanding password-reset or
	// invitation link, and records at as LastInvalidateAll and
	// UpdatedAt. An unknown uid is ErrNotFound, and nothing changes.
	ChangePassword(ctx context.Context, uid, hash, keepSession string, at time.Time) error
	// UpdateProfile replaces the user's names, email and language; at
	// becomes UpdatedAt. An email another user has (case-insensitively)
	// is ErrConflict, an unknown uid ErrNotFound.
	UpdateProfile(ctx context.Context, uid string, p Profile, at time.Time) error
	// ReplaceRecoveryCodes replaces, in one transaction, every recovery
	// code of the user with these hashes (made at at), if the user's
	// second factor is enabled; otherwise ErrNotFound and nothing changes.
	ReplaceRecoveryCodes(ctx context.Context, userUID string, hashes []string, at time.Time) error
}
