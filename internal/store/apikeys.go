package store

import (
	"context"
	"time"
)

// APIKey is a ProZ-style API key: a static credential that carries its
// user's whole access. Only the SHA-256 of the key is stored. A revoked
// key stays, with RevokedAt set, for the record.
type APIKey struct {
	ID        string // 32 lowercase hex characters
	UserUID   string
	Note      string
	Hash      string // hex SHA-256 of the key
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is valid
}

// APIKeys stores API keys.
type APIKeys interface {
	// CreateAPIKey returns ErrConflict when the ID or hash is taken.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// GetAPIKey returns the key with this ID, revoked or not.
	GetAPIKey(ctx context.Context, id string) (APIKey, error)
	// GetAPIKeyByHash returns the key whose hash this is, revoked or not;
	// callers check RevokedAt.
	GetAPIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	// ListAPIKeys returns the keys of the organization's users ("" = all
	// keys), revoked ones included, oldest first (ties by ID).
	ListAPIKeys(ctx context.Context, orgUID string) ([]APIKey, error)
	// RevokeAPIKey marks the key revoked at `at`, atomically: of concurrent
	// calls exactly one reports revoked=true. Revoking a revoked key
	// reports false; an unknown ID is ErrNotFound.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) (revoked bool, err error)
}
