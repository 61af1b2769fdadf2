package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestBrowserPlatformTokenExchange creates a Platform API token in the
// real UI, reads it from the page as a user copying it would, exchanges it
// at the token endpoint (SPEC §3.5), and calls whoAmI with the JWT.
func TestBrowserPlatformTokenExchange(t *testing.T) {
	ctx := NewBrowser(t)
	s := tolktest.New(t)

	Do(t, ctx, "sign in",
		chromedp.Navigate(s.URL+"/login?next=/settings/access-tokens"),
		chromedp.WaitVisible(Labelled("Username")),
		chromedp.SendKeys(Labelled("Username"), "admin"),
		chromedp.SendKeys(Labelled("Password"), tolktest.AdminPassword),
		chromedp.Click(Button("Sign in")),
		chromedp.WaitVisible(Button("Create token")),
	)
	Do(t, ctx, "create a token",
		chromedp.SendKeys(Labelled("Name"), "Browser test"),
		chromedp.Click(Button("Create token")),
		chromedp.WaitVisible(Labelled("Token")),
		// The script un-hides the copy button.
		chromedp.WaitVisible(Button("Copy")),
	)
	tok, err := chromedp.Run(ctx, chromedp.Value(Labelled("Token")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "tolk_pt_") {
		t.Fatalf("token on the page: %q", tok)
	}
	Do(t, ctx, "the list names the token by its last eight characters",
		chromedp.Navigate(s.URL+"/settings/access-tokens"),
		chromedp.WaitVisible(Text("…"+tok[len(tok)-8:])),
	)
	page := TextOf(t, ctx, "main")
	if strings.Contains(page, tok) {
		t.Error("the token is shown a second time")
	}

	resp, err := s.Client().PostForm(s.URL+"/idm/oauth/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {tok},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		AccessToken     string `json:"access_token"`
		IssuedTokenType string `json:"issued_token_type"`
		ExpiresIn       int    `json:"expires_in"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ex)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || ex.ExpiresIn != 14399 || ex.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" {
		t.Fatalf("exchange: %d %+v", resp.StatusCode, ex)
	}

	req, _ := http.NewRequest(http.MethodGet, s.URL+"/api2/v1/auth/whoAmI", nil)
	req.Header.Set("Authorization", "Bearer "+ex.AccessToken)
	wr, body := s.Do(t, req)
	var who struct {
		User struct {
			UserName string `json:"userName"`
		} `json:"user"`
	}
	_ = json.Unmarshal(body, &who)
	if wr.StatusCode != http.StatusOK || who.User.UserName != "admin" {
		t.Fatalf("whoAmI with the exchanged JWT: %d %s", wr.StatusCode, body)
	}

	// Revoking in the UI (Revoke, then Confirm on the page that names the
	// token) ends the JWT at tolk at once.
	Do(t, ctx, "revoke",
		chromedp.Click(chromedp.Search(`//a[normalize-space()='Revoke']`)),
		chromedp.WaitVisible(Button("Confirm")),
		chromedp.Click(Button("Confirm")),
		chromedp.WaitVisible(Text("The token was revoked.")),
	)
	if wr, _ := s.Do(t, req.Clone(req.Context())); wr.StatusCode != http.StatusUnauthorized {
		t.Errorf("whoAmI after revoking in the UI: %d, want 401", wr.StatusCode)
	}
}
