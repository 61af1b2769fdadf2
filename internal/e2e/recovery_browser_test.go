package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/mailpit"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

var resetLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/reset-password\?token=[A-Za-z0-9]+`)

// TestBrowserForgotPassword: in Chromium, Forgot password? on the sign-in
// page, Username or email and Send reset link; the mail that reaches
// Mailpit; its link, New password and Set password; then signing in with
// the new password, found by the labels of SPEC §8.
func TestBrowserForgotPassword(t *testing.T) {
	ctx := NewBrowser(t) // first: skips before starting a server if there is no browser
	mp := mailpit.Start(t, mailpit.Options{})
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) {
		c.SMTPURL, c.SMTPFrom = mp.URL(nil), "tolk@example.com"
	}})
	const oldPW, newPW = "old-password-gecko-1234", "new-password-quokka-9876"
	u := s.CreateUser(t, "rosa", store.RoleLinguist, oldPW)

	Do(t, ctx, "ask for a reset link",
		chromedp.Navigate(s.URL+"/login"),
		chromedp.Click(chromedp.Search(`//a[normalize-space()='Forgot password?']`)),
		chromedp.WaitVisible(Labelled("Username or email")),
		chromedp.SendKeys(Labelled("Username or email"), u.Email),
		chromedp.Click(Button("Send reset link")),
		chromedp.WaitVisible(chromedp.CSS(`[role=status]`)),
	)
	m := mp.Wait(t, 1)[0]
	link := resetLinkRE.FindString(m.Text)
	if link == "" || m.To[0].Address != u.Email {
		t.Fatalf("mail to %v without a link:\n%s", m.To, m.Text)
	}
	Do(t, ctx, "follow the link and set a password",
		chromedp.Navigate(link),
		chromedp.WaitVisible(Labelled("New password")),
		chromedp.SendKeys(Labelled("New password"), newPW),
		chromedp.Click(Button("Set password")),
		chromedp.WaitVisible(Text("Your password has been set. Sign in with it.")),
	)
	Do(t, ctx, "sign in with the new password",
		chromedp.WaitVisible(Labelled("Password")),
		chromedp.SendKeys(Labelled("Password"), newPW), // the user name is filled in
		chromedp.Click(Button("Sign in")),
		chromedp.WaitVisible(chromedp.ID("signed-in-as")),
	)
	if got := TextOf(t, ctx, "#signed-in-as"); got != "Signed in as rosa" {
		t.Fatalf("after signing in with the new password the home page says %q", got)
	}
	Do(t, ctx, "the link works once",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`[role=alert]`)),
	)
	if txt := TextOf(t, ctx, `[role=alert]`); !strings.Contains(txt, "has been used") {
		t.Fatalf("the used link's page says %q", txt)
	}
}

// TestBrowserInviteWithoutMail: an admin invites a user on the users page
// with no mail configured, sees the link once, and the invited user sets a
// password through it and signs in.
func TestBrowserInviteWithoutMail(t *testing.T) {
	ctx := NewBrowser(t)
	s := tolktest.New(t)
	Do(t, ctx, "sign in as admin and invite",
		chromedp.Navigate(s.URL+"/login"),
		chromedp.SendKeys(Labelled("Username"), "admin"),
		chromedp.SendKeys(Labelled("Password"), tolktest.AdminPassword),
		chromedp.Click(Button("Sign in")),
		chromedp.WaitVisible(chromedp.ID("signed-in-as")),
		chromedp.Navigate(s.URL+"/settings/users"),
		chromedp.SendKeys(chromedp.ID("invite-username"), "ines"),
		chromedp.SendKeys(chromedp.ID("invite-email"), "ines@example.com"),
		chromedp.Click(Button("Invite")),
		chromedp.WaitVisible(chromedp.ID("set-password-url")),
	)
	link, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("set-password-url")))
	if err != nil || !resetLinkRE.MatchString(link) {
		t.Fatalf("one-time link %q (err %v)", link, err)
	}
	Do(t, ctx, "log out, follow the invitation",
		chromedp.Navigate(s.URL+"/"),
		chromedp.Click(Button("Log out")),
		chromedp.WaitVisible(Text("You have been logged out.")),
		chromedp.Navigate(link),
		chromedp.SendKeys(Labelled("New password"), "ines-picked-this-5309"),
		chromedp.Click(Button("Set password")),
		chromedp.WaitVisible(Text("Your password has been set. Sign in with it.")),
		chromedp.SendKeys(Labelled("Password"), "ines-picked-this-5309"),
		chromedp.Click(Button("Sign in")),
		chromedp.WaitVisible(chromedp.ID("signed-in-as")),
	)
	if got := TextOf(t, ctx, "#signed-in-as"); got != "Signed in as ines" {
		t.Fatalf("home page says %q", got)
	}
}

// TestBrowserUsersSearchAndEdit: on the users page an admin searches for a
// user, opens Edit, changes email, names and role with Save, and resets
// the user's two-factor and password (a one-time link without mail).
func TestBrowserUsersSearchAndEdit(t *testing.T) {
	ctx := NewBrowser(t)
	s := tolktest.New(t)
	u := s.CreateUser(t, "edgar", store.RoleLinguist, "edgar-password-long-1")
	s.CreateUser(t, "other", store.RoleLinguist, "other-password-long-1")
	Do(t, ctx, "sign in as admin and search",
		chromedp.Navigate(s.URL+"/login"),
		chromedp.SendKeys(Labelled("Username"), "admin"),
		chromedp.SendKeys(Labelled("Password"), tolktest.AdminPassword),
		chromedp.Click(Button("Sign in")),
		chromedp.WaitVisible(chromedp.ID("signed-in-as")),
		chromedp.Navigate(s.URL+"/settings/users"),
		chromedp.SendKeys(Labelled("Search by username or email"), "EDG"),
		chromedp.Click(Button("Search")),
		// The answer's search field carries the query as its value
		// attribute (typing sets only the property): the list is the
		// searched one, not the page the search was typed on.
		chromedp.WaitVisible(chromedp.CSS(`input#q[value="EDG"]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[normalize-space()='Edit']`)),
	)
	if rows := TextOf(t, ctx, "tbody"); !strings.Contains(rows, "edgar") || strings.Contains(rows, "other") {
		t.Fatalf("search EDG lists %q", rows)
	}
	Do(t, ctx, "edit",
		chromedp.Click(chromedp.Search(`//a[normalize-space()='Edit']`)),
		chromedp.WaitVisible(Labelled("First name")),
		chromedp.SetValue(Labelled("First name"), "Edgar"),
		chromedp.SetValue(Labelled("Last name"), "Allan"),
		chromedp.SetValue(Labelled("Email"), "poe@example.com"),
		chromedp.SetValue(Labelled("Role"), "PROJECT_MANAGER"),
		chromedp.Click(Button("Save")),
		chromedp.WaitVisible(Text("The user has been changed.")),
	)
	got, err := s.Store.GetUser(t.Context(), u.UID)
	if err != nil || got.Email != "poe@example.com" || got.FirstName != "Edgar" || got.LastName != "Allan" || got.Role != store.RoleProjectManager {
		t.Fatalf("after Save: %+v (err %v)", got, err)
	}
	Do(t, ctx, "reset password without mail",
		chromedp.Navigate(s.URL+"/settings/users?q=poe"),
		chromedp.Click(chromedp.Search(`//a[normalize-space()='Reset password']`)),
		chromedp.WaitVisible(Button("Confirm")), // asks once more (SPEC §5)
		chromedp.Click(Button("Confirm")),
		chromedp.WaitVisible(chromedp.ID("set-password-url")),
	)
	link, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("set-password-url")))
	if err != nil || !resetLinkRE.MatchString(link) {
		t.Fatalf("one-time link %q (err %v)", link, err)
	}
}
