package interop

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/testutil/oauthflow"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

func TestAuthorizationCodeWithPKCEAndOIDC(t *testing.T) {
	s := tolktest.New(t, tolktest.Options{ClockStart: time.Now()})
	ctx := context.Background()
	org, _ := s.Store.DefaultOrganization(ctx)
	redirect := "http://127.0.0.1:9/callback"
	c, sec, err := s.Tolk.Authz.CreateClient(ctx, authz.ClientSpec{OrgUID: org.UID, Name: "Interop", RedirectURIs: []string{redirect}})
	if err != nil {
		t.Fatal(err)
	}
	ctx = oidc.ClientContext(ctx, s.Client())
	provider, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: c.ID, ClientSecret: sec, Endpoint: provider.Endpoint(), RedirectURL: redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-456"))

	b := oauthflow.New(t, s.URL)
	p := b.Authorize(t, authURL, "admin", tolktest.AdminPassword, "allow")
	if p.Location == nil {
		t.Fatalf("no redirect to the client: %d %s", p.Status, p.Body)
	}
	q := oauthflow.Params(p.Location)
	if q.Get("state") != "st-123" || q.Get("iss") != s.URL || q.Get("code") == "" {
		t.Fatalf("authorization response: %v", q)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if idt.Nonce != "n-456" {
		t.Fatalf("nonce %q", idt.Nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if ui.Subject != idt.Subject || ui.Email != "admin@localhost.localdomain" {
		t.Fatalf("userinfo %+v", ui)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
	old := tok.RefreshToken
	tok.Expiry = tok.Expiry.Add(-1e18)
	nt, err := conf.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if nt.RefreshToken == old || nt.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	_ = http.StatusOK
}
