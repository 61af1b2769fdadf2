package identity_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/store"
)

// touchCounter counts the writes of last-seen and last-used times.
type touchCounter struct {
	store.Store
	web, api atomic.Int32
}

func (c *touchCounter) TouchWebSession(ctx context.Context, hash string, at time.Time, addr, ua string) error {
	c.web.Add(1)
	return c.Store.TouchWebSession(ctx, hash, at, addr, ua)
}

func (c *touchCounter) TouchAPIToken(ctx context.Context, hash string, at time.Time) error {
	c.api.Add(1)
	return c.Store.TouchAPIToken(ctx, hash, at)
}

// TestT60_LastSeenThrottled: a session used on every request is written
// at most once per SeenEvery (a write per request would make every page
// view a database write), and the sessions page shows the last write.
func TestT60_LastSeenThrottled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	counter := &touchCounter{Store: f.st}
	f.svc.Store = counter
	u := f.user(t, "lena", store.RoleLinguist)
	chrome := identity.Device{Address: "192.0.2.10", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}
	sess, err := f.svc.StartSession(ctx, u, chrome)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		f.now = f.now.Add(time.Second)
		if _, _, err := f.svc.LookupSession(ctx, sess.Cookie, chrome); err != nil {
			t.Fatal(err)
		}
	}
	// 50 s after signing in: nothing written yet.
	if n := counter.web.Load(); n != 0 {
		t.Fatalf("%d last-seen writes within %v of signing in, want 0", n, identity.SeenEvery)
	}
	moved := identity.Device{Address: "198.51.100.20", UserAgent: chrome.UserAgent}
	for range 70 { // to 120 s: one write at 60 s, the next not before 120 s
		f.now = f.now.Add(time.Second)
		if _, _, err := f.svc.LookupSession(ctx, sess.Cookie, moved); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.web.Load(); n != 2 {
		t.Fatalf("%d last-seen writes in 120 one-second steps, want 2 (at 60 s and 120 s)", n)
	}
	l, err := f.svc.Sessions(ctx, u, sess.WebSession)
	if err != nil || len(l.Web) != 1 {
		t.Fatalf("Sessions = %+v, %v", l, err)
	}
	w := l.Web[0]
	if !w.Current || w.Browser != "Chrome" || w.System != "Linux" || w.Address != "198.51.100.20" || !w.LastSeen.Equal(f.now) || !w.SignedIn.Equal(sess.CreatedAt) {
		t.Errorf("listed session = %+v, want current Chrome on Linux from the new address, last seen now", w)
	}

	// ApiTokens: the first use is written, then at most once a minute.
	tok, _, err := f.svc.IssueAPIToken(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		f.now = f.now.Add(time.Second)
		if _, err := f.svc.VerifyAPIToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.api.Load(); n != 1 {
		t.Fatalf("%d last-used writes in 30 uses over 30 s, want 1", n)
	}
	l, _ = f.svc.Sessions(ctx, u, sess.WebSession)
	if len(l.APITokens) != 1 || !l.APITokens[0].LastUsed.Equal(f.now.Add(-29*time.Second)) {
		t.Errorf("listed ApiTokens = %+v, want last used at the first use", l.APITokens)
	}
}

// TestT58_RevokeOnlyOwn: a user names another user's session or
// ApiToken by its id: not found, and both keep working.
func TestT58_RevokeOnlyOwn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mallory, victim := f.user(t, "mallory", store.RoleLinguist), f.user(t, "victor", store.RoleLinguist)
	vs, err := f.svc.StartSession(ctx, victim, identity.Device{})
	if err != nil {
		t.Fatal(err)
	}
	vt, _, err := f.svc.IssueAPIToken(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	vl, err := f.svc.Sessions(ctx, victim, vs.WebSession)
	if err != nil || len(vl.Web) != 1 || len(vl.APITokens) != 1 {
		t.Fatalf("victim's list = %+v, %v", vl, err)
	}
	for _, id := range []string{vl.Web[0].ID, vl.APITokens[0].ID, "", "x", vl.Web[0].ID[:63] + "\x00"} {
		if err := f.svc.RevokeSession(ctx, mallory, id); !errors.Is(err, identity.ErrSessionNotFound) {
			t.Errorf("RevokeSession(another's %q) = %v, want ErrSessionNotFound", id, err)
		}
		if err := f.svc.RevokeAPITokenOf(ctx, mallory, id); !errors.Is(err, identity.ErrSessionNotFound) {
			t.Errorf("RevokeAPITokenOf(another's %q) = %v, want ErrSessionNotFound", id, err)
		}
	}
	if _, _, err := f.svc.LookupSession(ctx, vs.Cookie, identity.Device{}); err != nil {
		t.Errorf("victim's session after the attempts: %v", err)
	}
	if _, err := f.svc.VerifyAPIToken(ctx, vt); err != nil {
		t.Errorf("victim's ApiToken after the attempts: %v", err)
	}
	// Their own: gone at once.
	if err := f.svc.RevokeSession(ctx, victim, vl.Web[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeAPITokenOf(ctx, victim, vl.APITokens[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.LookupSession(ctx, vs.Cookie, identity.Device{}); !errors.Is(err, identity.ErrInvalidToken) {
		t.Errorf("revoked session: %v, want ErrInvalidToken", err)
	}
	if _, err := f.svc.VerifyAPIToken(ctx, vt); !errors.Is(err, identity.ErrInvalidToken) {
		t.Errorf("revoked ApiToken: %v, want ErrInvalidToken", err)
	}
}

func TestBrowserAndSystem(t *testing.T) {
	for _, tc := range []struct{ ua, browser, system string }{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "Linux"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome", "Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge", "Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera", "Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "macOS"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari", "macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari", "iOS"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome", "Android"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "ChromeOS"},
		{"curl/8.5.0", "curl", ""},
		{"", "", ""},
		{"Go-http-client/1.1", "", ""},
	} {
		if b, s := identity.BrowserAndSystem(tc.ua); b != tc.browser || s != tc.system {
			t.Errorf("BrowserAndSystem(%q) = %q, %q; want %q, %q", tc.ua, b, s, tc.browser, tc.system)
		}
	}
}

// TestDeviceStoredClean: a User-Agent with control characters, invalid
// UTF-8 or megabytes is stored bounded and printable, on every backend.
func TestDeviceStoredClean(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "nora", store.RoleLinguist)
	long := make([]byte, 10000)
	for i := range long {
		long[i] = 'é' % 128
	}
	sess, err := f.svc.StartSession(ctx, u, identity.Device{Address: "192.0.2.1\x00", UserAgent: "Firefox/1\x00\xff\n" + string(long)})
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := f.svc.LookupSession(ctx, sess.Cookie, identity.Device{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws.UserAgent) > 256 || ws.UserAgent[:9] != "Firefox/1" || ws.UserAgent[9] == 0 || ws.Address != "192.0.2.1" {
		t.Errorf("stored device = %q (%d bytes), %q", ws.UserAgent[:20], len(ws.UserAgent), ws.Address)
	}
}
