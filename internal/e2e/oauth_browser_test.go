package e2e

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tolk-project/tolk/internal/core/authz"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestBrowserAuthorizationCodeFlow runs the whole authorization code flow
// in a real browser: a relying party (golang.org/x/oauth2 + go-oidc, with
// PKCE and a nonce) sends the browser to tolk, the user signs in and
// clicks Allow on the consent page, and the relying party redeems the code
// and verifies the id_token against tolk's discovery document.
func TestBrowserAuthorizationCodeFlow(t *testing.T) {
	ctx := NewBrowser(t)
	s := tolktest.New(t, tolktest.Options{ClockStart: time.Now()})
	bg := context.Background()
	org, err := s.Store.DefaultOrganization(bg)
	if err != nil {
		t.Fatal(err)
	}

	rp := httptest.NewUnstartedServer(nil)
	redirect := "http://" + rp.Listener.Addr().String() + "/callback"
	client, sec, err := s.Tolk.Authz.CreateClient(bg, authz.ClientSpec{
		OrgUID: org.UID, Name: "Translation Dashboard", Description: "Shows your projects.", RedirectURIs: []string{redirect},
	})
	if err != nil {
		t.Fatal(err)
	}
	octx := oidc.ClientContext(bg, s.Client())
	provider, err := oidc.NewProvider(octx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: client.ID, ClientSecret: sec, Endpoint: provider.Endpoint(), RedirectURL: redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	verifier := oauth2.GenerateVerifier()
	const state, nonce = "state-e2e", "nonce-e2e"

	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), http.StatusFound)
	})
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("state") != state || q.Get("iss") != s.URL {
			http.Error(w, "bad state or iss", http.StatusBadRequest)
			return
		}
		tok, err := conf.Exchange(octx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			http.Error(w, "exchange: "+err.Error(), http.StatusBadGateway)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&oidc.Config{ClientID: client.ID}).Verify(octx, raw)
		if err != nil || idt.Nonce != nonce {
			http.Error(w, fmt.Sprintf("id_token: %v", err), http.StatusBadGateway)
			return
		}
		var claims struct {
			PreferredUsername string `json:"preferred_username"`
			Email             string `json:"email"`
		}
		_ = idt.Claims(&claims)
		fmt.Fprintf(w, `<!DOCTYPE html><html lang="en"><title>RP</title><p id="welcome">Welcome %s (%s)</p>`,
			html.EscapeString(claims.PreferredUsername), html.EscapeString(claims.Email))
	})
	rp.Config.Handler = mux
	rp.Start()
	t.Cleanup(rp.Close)

	Do(t, ctx, "go to the app, which sends the browser to tolk's sign-in",
		chromedp.Navigate(rp.URL+"/start"),
		chromedp.WaitVisible(Labelled("Username")),
	)
	Do(t, ctx, "sign in",
		chromedp.SendKeys(Labelled("Username"), "admin"),
		chromedp.SendKeys(Labelled("Password"), tolktest.AdminPassword),
		chromedp.Click(Button("Sign in")),
		chromedp.WaitVisible(Button("Allow")),
	)
	page := TextOf(t, ctx, "main")
	for _, want := range []string{"Translation Dashboard", "Shows your projects.", "openid", "profile", "email"} {
		if !containsText(page, want) {
			t.Errorf("consent page lacks %q:\n%s", want, page)
		}
	}
	Do(t, ctx, "allow",
		chromedp.Click(Button("Allow")),
		chromedp.WaitVisible(chromedp.ID("welcome")),
	)
	if got := TextOf(t, ctx, "#welcome"); got != "Welcome admin (admin@localhost.localdomain)" {
		t.Fatalf("relying party page: %q", got)
	}

	// A second visit does not ask again: the consent stands.
	Do(t, ctx, "second visit skips consent",
		chromedp.Navigate(rp.URL+"/start"),
		chromedp.WaitVisible(chromedp.ID("welcome")),
	)
}

func containsText(haystack, needle string) bool {
	return len(needle) == 0 || (len(haystack) >= len(needle) && indexOf(haystack, needle) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
