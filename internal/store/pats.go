package store

import (
	"context"
	"time"
)

// PersonalAccessToken is a Strings personal access token (Authorizations
// API). Only the SHA-256 of the token is stored, with its last eight
// characters for display.
type PersonalAccessToken struct {
	ID         string // 32 lowercase hex characters
	UserUID    string
	Note       string
	Scopes     []string // nil: none
	Hash       string   // hex SHA-256 of the token (Strings' hashed_token)
	LastEight  string   // the token's last eight characters
	ExpiresAt  time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastUsedAt time.Time // zero: never used
}

// PersonalAccessTokens stores Strings personal access tokens. ExpiresAt
// and LastUsedAt are optional: the zero time means "never".
type PersonalAccessTokens interface {
	// CreatePAT returns ErrConflict when the ID or hash is taken.
	CreatePAT(ctx context.Context, t PersonalAccessToken) error
	// GetPAT returns the token with this ID whatever its expiry.
	GetPAT(ctx context.Context, id string) (PersonalAccessToken, error)
	// GetPATByHash returns the token whose hash this is, whatever its
	// expiry; callers check it.
	GetPATByHash(ctx context.Context, hash string) (PersonalAccessToken, error)
	// ListPATs returns at most limit tokens of the user, skipping offset,
	// oldest first (ties by ID), and the total number the user has.
	ListPATs(ctx context.Context, userUID string, offset, limit int) ([]PersonalAccessToken, int, error)
	// UpdatePAT replaces Note, Scopes, ExpiresAt and UpdatedAt of the token
	// with t.ID, if it belongs to t.UserUID; otherwise ErrNotFound.
	UpdatePAT(ctx context.Context, t PersonalAccessToken) error
	// DeletePAT deletes the user's token atomically: of concurrent calls
	// exactly one returns nil, the others (and calls for an unknown token
	// or another user's) ErrNotFound.
	DeletePAT(ctx context.Context, userUID, id string) error
	// TouchPAT records a use at `at`; it never moves LastUsedAt back. An
	// unknown hash is not an error.
	TouchPAT(ctx context.Context, hash string, at time.Time) error
}
