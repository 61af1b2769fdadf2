package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestBrowserLanguageMenu: in Chromium, without a script, the Language
// menu at the foot of the sign-in page turns it French; signed in, the
// menu on the home page turns the UI Japanese and the profile keeps it.
func TestBrowserLanguageMenu(t *testing.T) {
	ctx := NewBrowser(t)
	s := tolktest.New(t)
	const pw = "language-password-lynx-12"
	u := s.CreateUser(t, "lina", store.RoleLinguist, pw)
	Do(t, ctx, "choose Français on the sign-in page",
		chromedp.Navigate(s.URL+"/login"),
		chromedp.WaitVisible(Labelled("Language")),
		chromedp.SetValue(Labelled("Language"), "fr"),
		chromedp.Click(Button("Change language")),
		chromedp.WaitVisible(Button("Se connecter")),
	)
	Do(t, ctx, "sign in in French",
		chromedp.SendKeys(Labelled("Nom d’utilisateur"), "lina"),
		chromedp.SendKeys(Labelled("Mot de passe"), pw),
		chromedp.Click(Button("Se connecter")),
		chromedp.WaitVisible(chromedp.ID("signed-in-as")),
		chromedp.WaitVisible(Text("Connecté en tant que lina")),
	)
	Do(t, ctx, "choose 日本語 on the home page",
		chromedp.SetValue(Labelled("Langue"), "ja"),
		chromedp.Click(Button("Changer de langue")),
		chromedp.WaitVisible(Text("lina としてサインイン中")),
	)
	if got, err := s.Store.GetUser(context.Background(), u.UID); err != nil || got.Language != "ja" {
		t.Fatalf("profile language %q (err %v), want ja", got.Language, err)
	}
}
