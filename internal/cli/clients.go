package cli

import (
	"context"
	"time"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/server"
	"github.com/tolk-project/tolk/internal/store"
)

type clientJSON struct {
	ClientID        string   `json:"client_id"`
	ClientSecret    string   `json:"client_secret,omitempty"`
	Name            string   `json:"name"`
	Description     string   `json:"description,omitempty"`
	RedirectURIs    []string `json:"redirect_uris"`
	GrantTypes      []string `json:"grant_types"`
	Scopes          []string `json:"scopes"`
	Audiences       []string `json:"audiences"`
	Public          bool     `json:"public"`
	AdminConsent    bool     `json:"admin_consent"`
	JWTAccessTokens bool     `json:"jwt_access_tokens"`
	AlwaysRefresh   bool     `json:"always_refresh"`
	OrgUID          string   `json:"organization_uid"`
	CreatedAt       string   `json:"created_at"`
}

func toClientJSON(c store.Client, secret string) clientJSON {
	nz := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return clientJSON{ClientID: c.ID, ClientSecret: secret, Name: c.Name, Description: c.Description,
		RedirectURIs: nz(c.RedirectURIs), GrantTypes: nz(c.GrantTypes), Scopes: nz(c.Scopes), Audiences: nz(c.Audiences),
		Public: c.Public, AdminConsent: c.AdminConsent, JWTAccessTokens: c.JWTAccessTokens, AlwaysRefresh: c.AlwaysRefresh,
		OrgUID: c.OrgUID, CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339)}
}

func clientCreateCmd(ctx context.Context, srv *server.Server, c clientCreate, io IO) error {
	org, err := srv.Store.DefaultOrganization(ctx)
	if err != nil {
		return err
	}
	cl, sec, err := srv.Authz.CreateClient(ctx, authz.ClientSpec{
		OrgUID: org.UID, Name: c.Name, Description: c.Description, RedirectURIs: c.RedirectURI,
		GrantTypes: c.Grant, Scopes: c.Scope, Audiences: c.Audience, Public: c.Public,
		AdminConsent: c.AdminConsent, JWTAccessTokens: c.JWTAccessTokens, AlwaysRefresh: c.AlwaysRefresh,
	})
	if err != nil {
		return err
	}
	return writeJSON(io.Stdout, toClientJSON(cl, sec))
}
