package store

import (
	"context"
	"time"
)

// PlatformToken is a Platform API token (SPEC §3.5), created by a user in
// Settings → Access Tokens and exchanged for short-lived JWTs at the token
// endpoint (RFC 8693). Only the SHA-256 of the token is stored.
type PlatformToken struct {
	ID        string // 32 hex characters; names the token in the UI and in exchanged JWTs
	UserUID   string
	Name      string
	Hash      string // hex SHA-256 of the token
	LastEight string // the token's last eight characters, to recognize it in the list
	CreatedAt time.Time
	// LastUsedAt is when the token was last exchanged, at a granularity
	// the caller chooses (see TouchPlatformToken); zero if never.
	LastUsedAt time.Time
	ExpiresAt  time.Time // zero = never expires
}

// PlatformTokens stores Platform API tokens. The JWTs exchanged from them
// are not stored: each names its token (client_id), and verification looks
// the token up by GetPlatformToken (SECURITY.md T42).
type PlatformTokens interface {
	// CreatePlatformToken returns ErrConflict when the ID or hash is taken.
	CreatePlatformToken(ctx context.Context, t PlatformToken) error
	// GetPlatformTokenByHash returns the token whatever its expiry;
	// callers check it.
	GetPlatformTokenByHash(ctx context.Context, hash string) (PlatformToken, error)
	// GetPlatformTokenAndUser is GetPlatformTokenByHash together with the
	// token's user, in one read (the token exchange needs both).
	GetPlatformTokenAndUser(ctx context.Context, hash string) (PlatformToken, User, error)
	// GetPlatformToken returns the token by its ID whatever its expiry
	// (callers check it), or ErrNotFound once it is deleted.
	GetPlatformToken(ctx context.Context, id string) (PlatformToken, error)
	// GetPlatformTokenByIDAndUser is GetPlatformToken together with the
	// token's user, in one read (verifying an exchanged JWT needs both).
	GetPlatformTokenByIDAndUser(ctx context.Context, id string) (PlatformToken, User, error)
	// ListPlatformTokens returns the user's tokens, oldest first (expired
	// ones included).
	ListPlatformTokens(ctx context.Context, userUID string) ([]PlatformToken, error)
	// DeletePlatformToken revokes the token id of user userUID: once it
	// returns, GetPlatformToken(id) is ErrNotFound, which is what ends the
	// JWTs exchanged from it. ErrNotFound when there is no such token of
	// that user (so nobody can revoke another user's token); of concurrent
	// calls for one token exactly one returns nil.
	DeletePlatformToken(ctx context.Context, userUID, id string) error
	// TouchPlatformToken sets LastUsedAt to at unless it is already later
	// than at minus every, and reports whether it wrote. Callers pass a
	// granularity (say, a minute) so that a busy token costs one write per
	// interval, not one per exchange. An unknown id is not an error.
	TouchPlatformToken(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error)
}
