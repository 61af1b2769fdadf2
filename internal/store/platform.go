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

// ExchangedToken records one JWT issued by token exchange, by the hash of
// its jti, so that introspection and tolk's own verifiers can refuse it as
// soon as its platform token is revoked (SECURITY.md T42). Deleting the
// platform token deletes these records with it.
type ExchangedToken struct {
	JTIHash   string // hex SHA-256 of the JWT's jti
	TokenID   string // the PlatformToken it was exchanged from
	UserUID   string
	OrgUID    string
	Scopes    []string // nil: the user's whole access (no scope was asked for)
	Audiences []string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PlatformTokens stores Platform API tokens and the JWTs exchanged from
// them.
type PlatformTokens interface {
	// CreatePlatformToken returns ErrConflict when the ID or hash is taken.
	CreatePlatformToken(ctx context.Context, t PlatformToken) error
	// GetPlatformTokenByHash returns the token whatever its expiry;
	// callers check it.
	GetPlatformTokenByHash(ctx context.Context, hash string) (PlatformToken, error)
	// GetPlatformToken returns the token by its ID whatever its expiry
	// (callers check it), or ErrNotFound once it is deleted.
	GetPlatformToken(ctx context.Context, id string) (PlatformToken, error)
	// ListPlatformTokens returns the user's tokens, oldest first (expired
	// ones included).
	ListPlatformTokens(ctx context.Context, userUID string) ([]PlatformToken, error)
	// DeletePlatformToken revokes the token id of user userUID, together
	// with every ExchangedToken of it, atomically. ErrNotFound when there
	// is no such token of that user (so nobody can revoke another user's
	// token); of concurrent calls for one token exactly one returns nil.
	DeletePlatformToken(ctx context.Context, userUID, id string) error
	// TouchPlatformToken sets LastUsedAt to at unless it is already later
	// than at minus every, and reports whether it wrote. Callers pass a
	// granularity (say, a minute) so that a busy token costs one write per
	// interval, not one per exchange. An unknown id is not an error.
	TouchPlatformToken(ctx context.Context, id string, at time.Time, every time.Duration) (bool, error)

	// CreateExchangedToken records an exchanged JWT, but only while its
	// platform token exists: if the token was revoked meanwhile it stores
	// nothing and returns ErrNotFound, so no JWT is recorded (and none
	// handed out) after its revocation. A duplicate JTIHash is ErrConflict.
	CreateExchangedToken(ctx context.Context, e ExchangedToken) error
	// GetExchangedToken returns the record whatever its expiry; callers
	// check it.
	GetExchangedToken(ctx context.Context, jtiHash string) (ExchangedToken, error)
	// DeleteExpiredPlatformTokens removes platform tokens that expired
	// before t (with their exchanged records) and exchanged records that
	// expired before t, and returns how many rows of both it removed.
	DeleteExpiredPlatformTokens(ctx context.Context, t time.Time) (int, error)
}
