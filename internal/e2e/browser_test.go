package e2e

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestBrowserSignInAndOutEndsAPITokens signs in through the login form of a
// real browser, obtains an ApiToken through the TMS API, logs out in the
// browser, and checks that the logout ended the ApiToken too.
func TestBrowserSignInAndOutEndsAPITokens(t *testing.T) {
	ctx := NewBrowser(t) // first: skips before starting a server if there is no browser
	s := tolktest.New(t)

	// Sign in through the form, finding the fields by their labels.
	Do(t, ctx, "sign in",
		chromedp.Navigate(s.URL+"/login"),
		chromedp.SendKeys(Labelled("Username"), "admin"),
		chromedp.SendKeys(Labelled("Password"), tolktest.AdminPassword),
		chromedp.Click(Button("Sign in")),
		chromedp.WaitVisible(chromedp.ID("signed-in-as")),
	)
	if got := TextOf(t, ctx, "#signed-in-as"); got != "Signed in as admin" {
		t.Fatalf("home page greets %q, want %q", got, "Signed in as admin")
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || loc != s.URL+"/" {
		t.Errorf("after sign-in the browser is at %q (err %v), want %q", loc, err, s.URL+"/")
	}

	// An ApiToken for the same user, through the API.
	token := apiLogin(t, s, "admin", tolktest.AdminPassword)
	if status, _ := whoAmI(t, s, token); status != http.StatusOK {
		t.Fatalf("whoAmI with a fresh ApiToken: %d, want 200", status)
	}

	// Log out with the button on the home page.
	Do(t, ctx, "log out",
		chromedp.Click(Button("Log out")),
		chromedp.WaitVisible(Text("You have been logged out.")),
	)
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.Contains(loc, "logged_out=1") {
		t.Errorf("after logout the browser is at %q (err %v), want the login page with logged_out=1", loc, err)
	}

	// Logging out of the web UI ends every ApiToken of the user.
	status, body := whoAmI(t, s, token)
	if status != http.StatusUnauthorized {
		t.Fatalf("whoAmI after logout: %d %s, want 401", status, body)
	}
	var tmsErr struct {
		ErrorCode        string `json:"errorCode"`
		ErrorDescription string `json:"errorDescription"`
	}
	if err := json.Unmarshal(body, &tmsErr); err != nil || tmsErr.ErrorCode != "AuthUnauthorized" {
		t.Errorf("whoAmI after logout: body %s (err %v), want errorCode AuthUnauthorized", body, err)
	}

	// The login page rendered: a full-page PNG that is not blank.
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	checkRendered(t, shot)
	path := filepath.Join(t.TempDir(), "login.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("TOLK_E2E_SCREENSHOTS"); dir != "" {
		path = filepath.Join(dir, "tolk-login.png")
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("login page screenshot: %s (%d bytes)", path, len(shot))
}

// apiLogin obtains an ApiToken with the TMS password login.
func apiLogin(t *testing.T, s *tolktest.Server, userName, password string) string {
	t.Helper()
	body, err := json.Marshal(map[string]string{"userName": userName, "password": password})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/api2/v1/auth/login", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, respBody := s.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API login: %s %s", resp.Status, respBody)
	}
	var login struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(respBody, &login); err != nil || login.Token == "" {
		t.Fatalf("API login: no token in %s (err %v)", respBody, err)
	}
	return login.Token
}

// whoAmI calls whoAmI with the ApiToken and returns the status and body.
func whoAmI(t *testing.T, s *tolktest.Server, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/api2/v1/auth/whoAmI", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "ApiToken "+token)
	resp, body := s.Do(t, req)
	return resp.StatusCode, body
}

// checkRendered fails unless shot is a PNG of a page with some content:
// at least two distinct colours.
func checkRendered(t *testing.T, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is no PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("screenshot is only %v", b)
	}
	if !hasTwoColours(img) {
		t.Fatal("screenshot is a single colour: the page did not render")
	}
}

func hasTwoColours(img image.Image) bool {
	b := img.Bounds()
	r0, g0, b0, a0 := img.At(b.Min.X, b.Min.Y).RGBA()
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			if r, g, bl, a := img.At(x, y).RGBA(); r != r0 || g != g0 || bl != b0 || a != a0 {
				return true
			}
		}
	}
	return false
}
