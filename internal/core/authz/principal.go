package authz

import (
	"context"

	"github.com/tolk-project/tolk/internal/core/authn"
	"github.com/tolk-project/tolk/internal/kit/oauth"
	"github.com/tolk-project/tolk/verify"
)

// VerifyBearer is the authn verifier of OAuth access tokens.
func (s *Service) VerifyBearer(ctx context.Context, tok string) (authn.Principal, error) {
	a, err := s.VerifyAccessToken(ctx, tok)
	if err != nil {
		if e := oauth.AsError(err); e != nil && e.Code == "invalid_token" {
			return authn.Principal{}, authn.ErrInvalid
		}
		return authn.Principal{}, err
	}
	p := authn.Principal{User: a.User, Principal: verify.Principal{OrgUID: a.Record.OrgUID, ClientID: a.Record.ClientID,
		Scopes: a.Record.Scopes, Audiences: a.Record.Audiences, Method: verify.MethodBearer, ExpiresAt: a.Record.ExpiresAt}}
	if p.Scopes == nil {
		p.Scopes = []string{} // an OAuth token carries only what it was granted
	}
	if a.JWT {
		p.Method = verify.MethodJWT
	}
	return p, nil
}
