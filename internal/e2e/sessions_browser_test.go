package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestBrowserSessions: two browsers signed in as the same user. From the
// first, Settings → Sessions revokes the other's session (asked once
// more, with Confirm); the other is sent to /login on its next page
// load. Signed in again, Sign out everywhere in the first ends both.
func TestBrowserSessions(t *testing.T) {
	first := NewBrowser(t) // first: skips before starting a server if there is no browser
	second := NewBrowser(t)
	s := tolktest.New(t)
	const pw = "sessions-password-1234"
	s.CreateUser(t, "sam", store.RoleLinguist, pw)

	signIn := func(ctx context.Context, who string) {
		t.Helper()
		Do(t, ctx, who+": sign in",
			chromedp.Navigate(s.URL+"/login"),
			chromedp.SendKeys(Labelled("Username"), "sam"),
			chromedp.SendKeys(Labelled("Password"), pw),
			chromedp.Click(Button("Sign in")),
			chromedp.WaitVisible(chromedp.ID("signed-in-as")),
		)
	}
	// atLogin loads the home page and reports whether it ended at /login.
	atLogin := func(ctx context.Context, who string) bool {
		t.Helper()
		Do(t, ctx, who+": load a page",
			chromedp.Navigate(s.URL+"/settings/sessions"),
			chromedp.WaitVisible(chromedp.CSS("main")),
		)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return strings.HasPrefix(loc, s.URL+"/login")
	}
	signIn(first, "first")
	signIn(second, "second")

	// The first browser revokes the second's session, the one not marked
	// as this session, through the navigation link.
	Do(t, first, "first: open Sessions and revoke the other session",
		chromedp.Navigate(s.URL+"/"),
		chromedp.Click(chromedp.Search(`//nav//a[normalize-space()='Sessions']`)),
		chromedp.WaitVisible(Text("Web sessions")),
		chromedp.Click(chromedp.Search(`//li[not(.//*[@class='current'])]//form[contains(@action,'/settings/sessions/session/')]//button[normalize-space()='Revoke']`)),
		chromedp.WaitVisible(Button("Confirm")),
	)
	if atLogin(second, "second") {
		t.Fatal("the second browser was signed out before Confirm")
	}
	Do(t, first, "first: confirm",
		chromedp.Click(Button("Confirm")),
		chromedp.WaitVisible(Text("Revoked.")),
	)
	if !atLogin(second, "second") {
		t.Fatalf("after the revocation the second browser is not sent to /login: %s", DescribePage(second))
	}
	if atLogin(first, "first") {
		t.Fatal("revoking the other session signed the first browser out")
	}

	// Sign out everywhere ends both.
	signIn(second, "second")
	Do(t, first, "first: sign out everywhere",
		chromedp.Navigate(s.URL+"/settings/sessions"),
		chromedp.Click(Button("Sign out everywhere")),
		chromedp.WaitVisible(Button("Confirm")),
		chromedp.Click(Button("Confirm")),
		chromedp.WaitVisible(Labelled("Username")),
	)
	if !atLogin(first, "first") || !atLogin(second, "second") {
		t.Fatal("Sign out everywhere left a browser signed in")
	}
}
