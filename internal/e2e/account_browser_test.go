package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestBrowserChangePassword: Settings → Change password in Chromium, found
// by the labels of SPEC §8. The browser stays signed in; afterwards
// /login refuses the old password and accepts the new one.
func TestBrowserChangePassword(t *testing.T) {
	ctx := NewBrowser(t) // first: skips before starting a server if there is no browser
	s := tolktest.New(t)
	const oldPW, newPW = "old-password-gecko-1234", "new-password-tapir-5678"
	s.CreateUser(t, "paula", store.RoleLinguist, oldPW)

	signIn := func(step, pw string) {
		t.Helper()
		Do(t, ctx, step,
			chromedp.Navigate(s.URL+"/login"),
			chromedp.SendKeys(Labelled("Username"), "paula"),
			chromedp.SendKeys(Labelled("Password"), pw),
			chromedp.Click(Button("Sign in")),
			chromedp.WaitVisible(chromedp.CSS("main")),
		)
	}
	signIn("sign in", oldPW)
	Do(t, ctx, "change the password",
		chromedp.Click(chromedp.Search(`//nav//a[normalize-space()='Change password']`)),
		chromedp.WaitVisible(Labelled("Current password")),
		chromedp.SendKeys(Labelled("Current password"), oldPW),
		chromedp.SendKeys(Labelled("New password"), newPW),
		chromedp.Click(Button("Change password")),
		chromedp.WaitVisible(Text("Your password has been changed. Every other session and every ApiToken has ended.")),
	)
	// Still signed in: the page itself, not /login.
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasPrefix(loc, s.URL+"/settings/password") {
		t.Fatalf("after the change the browser is at %q (err %v)", loc, err)
	}

	Do(t, ctx, "log out",
		chromedp.Navigate(s.URL+"/"),
		chromedp.Click(Button("Log out")),
		chromedp.WaitVisible(Text("You have been logged out.")),
	)
	Do(t, ctx, "the old password is refused",
		chromedp.Navigate(s.URL+"/login"),
		chromedp.SendKeys(Labelled("Username"), "paula"),
		chromedp.SendKeys(Labelled("Password"), oldPW),
		chromedp.Click(Button("Sign in")),
		chromedp.WaitVisible(chromedp.CSS(`[role=alert]`)),
	)
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasPrefix(loc, s.URL+"/login") {
		t.Fatalf("the old password led to %q (err %v), want the sign-in page", loc, err)
	}
	signIn("sign in with the new password", newPW)
	if got := TextOf(t, ctx, "#signed-in-as"); got != "Signed in as paula" {
		t.Fatalf("after signing in with the new password the home page says %q", got)
	}
}

// TestBrowserProfileLanguage: choosing Deutsch under Language on the
// profile page turns the UI German for this user, whatever the browser
// prefers; choosing the browser's language again turns it back.
func TestBrowserProfileLanguage(t *testing.T) {
	ctx := NewBrowser(t)
	s := tolktest.New(t)
	const pw = "profile-password-ocelot-12"
	s.CreateUser(t, "lars", store.RoleLinguist, pw)
	Do(t, ctx, "sign in",
		chromedp.Navigate(s.URL+"/login"),
		chromedp.SendKeys(Labelled("Username"), "lars"),
		chromedp.SendKeys(Labelled("Password"), pw),
		chromedp.Click(Button("Sign in")),
		chromedp.WaitVisible(chromedp.ID("signed-in-as")),
	)
	Do(t, ctx, "choose Deutsch in the profile",
		chromedp.Click(chromedp.Search(`//nav//a[normalize-space()='Profile']`)),
		chromedp.WaitVisible(Labelled("Language")),
		chromedp.SetValue(Labelled("Language"), "de"),
		chromedp.Click(Button("Save")),
		chromedp.WaitVisible(Text("Ihr Profil wurde gespeichert.")),
	)
	Do(t, ctx, "the home page is German",
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.Search(`//nav//a[normalize-space()='Profil']`)),
	)
	if lang, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("html"), "lang")); err != nil || lang.Value != "de" {
		t.Fatalf("html lang = %+v (err %v), want de", lang, err)
	}
	Do(t, ctx, "back to the browser's language",
		chromedp.Navigate(s.URL+"/settings/profile"),
		chromedp.WaitVisible(Labelled("Sprache")),
		chromedp.SetValue(Labelled("Sprache"), ""),
		chromedp.Click(Button("Speichern")),
		chromedp.WaitVisible(Text("Your profile has been saved.")),
	)
}
