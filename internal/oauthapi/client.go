package oauthapi

import "github.com/tolk-project/tolk/internal/store"

// authzClient is an authenticated client of introspection or revocation.
type authzClient struct{ Client store.Client }
