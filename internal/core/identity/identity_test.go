package identity_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/kit/password"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/sqlite"
)

var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type fixture struct {
	svc *identity.Service
	st  store.Store
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "id.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	f.svc = &identity.Service{
		Store: st, Hasher: password.NewHasher(cheap, 2, nil), Now: clock,
		UserLimit:   ratelimit.NewFailures(3, time.Minute, clock),
		AddrLimit:   ratelimit.NewFailures(5, time.Minute, clock),
		APITokenTTL: 24 * time.Hour, SessionTTL: time.Hour,
	}
	created, _, err := f.svc.Bootstrap(ctx, "bootstrap-password")
	if err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	return f
}

func (f *fixture) user(t *testing.T, name string, role store.Role) store.User {
	t.Helper()
	u, err := f.svc.CreateUser(context.Background(), identity.NewUser{UserName: name, Email: name + "@example.com", Role: role, Password: "password-" + name})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestBootstrapOnlyOnce(t *testing.T) {
	f := newFixture(t)
	created, pw, err := f.svc.Bootstrap(context.Background(), "")
	if err != nil || created || pw != "" {
		t.Fatalf("second bootstrap: %v %q %v", created, pw, err)
	}
}

func TestBootstrapRandomPassword(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc := &identity.Service{Store: st, Hasher: password.NewHasher(cheap, 1, nil), Now: time.Now,
		UserLimit: ratelimit.NewFailures(3, time.Minute, time.Now), AddrLimit: ratelimit.NewFailures(3, time.Minute, time.Now)}
	if _, _, err := svc.Bootstrap(ctx, "short"); err == nil {
		t.Fatal("a too-short admin password is accepted")
	}
	created, pw, err := svc.Bootstrap(ctx, "")
	if err != nil || !created || len(pw) < 20 {
		t.Fatalf("bootstrap: %v %q %v", created, pw, err)
	}
	u, err := svc.Authenticate(ctx, "test", "admin", pw, "127.0.0.1")
	if err != nil || u.Role != store.RoleAdmin {
		t.Fatalf("admin cannot sign in with the printed password: %v", err)
	}
}

func TestCreateUserValidation(t *testing.T) {
	f := newFixture(t)
	ok := identity.NewUser{UserName: "ana", Email: "ana@example.com", Role: store.RoleLinguist, Password: "long enough"}
	cases := []struct {
		name  string
		mod   func(*identity.NewUser)
		field string
	}{
		{"no user name", func(n *identity.NewUser) { n.UserName = " " }, "userName"},
		{"space in user name", func(n *identity.NewUser) { n.UserName = "a b" }, "userName"},
		{"colon in user name (breaks Basic auth)", func(n *identity.NewUser) { n.UserName = "a:b" }, "userName"},
		{"no email", func(n *identity.NewUser) { n.Email = "" }, "email"},
		{"bad email", func(n *identity.NewUser) { n.Email = "not-an-email" }, "email"},
		{"display-name email", func(n *identity.NewUser) { n.Email = "Ana <ana@example.com>" }, "email"},
		{"bad role", func(n *identity.NewUser) { n.Role = "ROOT" }, "role"},
		{"short password", func(n *identity.NewUser) { n.Password = "1234567" }, "password"},
		{"huge password", func(n *identity.NewUser) { n.Password = strings.Repeat("x", 2000) }, "password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := ok
			tc.mod(&n)
			_, err := f.svc.CreateUser(context.Background(), n)
			var ve *identity.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Fatalf("err = %v, want validation error on %s", err, tc.field)
			}
		})
	}
	if _, err := f.svc.CreateUser(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	dup := ok
	dup.UserName = "ANA"
	dup.Email = "other@example.com"
	if _, err := f.svc.CreateUser(context.Background(), dup); !errors.Is(err, identity.ErrConflict) {
		t.Fatalf("duplicate name differing in case: %v", err)
	}
}

func TestAuthenticateSameAnswerForUnknownAndWrong(t *testing.T) {
	f := newFixture(t)
	f.user(t, "ana", store.RoleLinguist)
	ctx := context.Background()
	_, errUnknown := f.svc.Authenticate(ctx, "test", "nobody", "whatever-pw", "10.0.0.1")
	_, errWrong := f.svc.Authenticate(ctx, "test", "ana", "whatever-pw", "10.0.0.2")
	if !errors.Is(errUnknown, identity.ErrInvalidCredentials) || errUnknown != errWrong {
		t.Fatalf("unknown=%v wrong=%v: want the same error", errUnknown, errWrong)
	}
	if _, err := f.svc.Authenticate(ctx, "test", "ANA", "password-ana", "10.0.0.3"); err != nil {
		t.Fatalf("case-insensitive user name: %v", err)
	}
}

func TestAuthenticateThrottlesPerUserAndAddress(t *testing.T) {
	f := newFixture(t)
	f.user(t, "ana", store.RoleLinguist)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := f.svc.Authenticate(ctx, "test", "ana", "bad-password", "10.0.0.1"); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	var thr *identity.ThrottledError
	if _, err := f.svc.Authenticate(ctx, "test", "Ana", "password-ana", "10.0.0.9"); !errors.As(err, &thr) || thr.RetryAfter <= 0 {
		t.Fatalf("4th attempt for the user: %v, want throttled", err)
	}
	f.now = f.now.Add(time.Minute)
	if _, err := f.svc.Authenticate(ctx, "test", "ana", "password-ana", "10.0.0.9"); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
	// Per address: 5 failures over different user names.
	for i := 0; i < 5; i++ {
		_, _ = f.svc.Authenticate(ctx, "test", "ghost"+string(rune('a'+i)), "x-password", "10.9.9.9")
	}
	if _, err := f.svc.Authenticate(ctx, "test", "admin", "bootstrap-password", "10.9.9.9"); !errors.As(err, &thr) {
		t.Fatalf("address over its limit: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, "test", "admin", "bootstrap-password", "10.9.9.8"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

func TestRehashOnLogin(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "ana", store.RoleLinguist)
	stronger := cheap
	stronger.Time = 2
	f.svc.Hasher = password.NewHasher(stronger, 1, nil)
	if _, err := f.svc.Authenticate(context.Background(), "test", "ana", "password-ana", "1.2.3.4"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.st.GetUser(context.Background(), u.UID)
	if got.PasswordHash == u.PasswordHash || !strings.Contains(got.PasswordHash, "t=2") {
		t.Fatalf("hash not upgraded: %s", got.PasswordHash)
	}
}

func TestAPITokenLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "ana", store.RoleLinguist)
	tok, exp, err := f.svc.IssueAPIToken(ctx, u)
	if err != nil || !exp.Equal(f.now.Add(24*time.Hour)) {
		t.Fatalf("issue: %v %v", exp, err)
	}
	if _, err := f.st.GetAPIToken(ctx, tok); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("the raw token is usable as a store key: it must be stored hashed")
	}
	if _, err := f.st.GetAPIToken(ctx, secret.Hash(tok)); err != nil {
		t.Fatal(err)
	}
	if got, err := f.svc.VerifyAPIToken(ctx, tok); err != nil || got.UID != u.UID {
		t.Fatalf("verify: %v", err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 64), tok[:63] + "!", tok + "x"} {
		if _, err := f.svc.VerifyAPIToken(ctx, bad); !errors.Is(err, identity.ErrInvalidToken) {
			t.Errorf("VerifyAPIToken(%q) = %v", bad, err)
		}
	}
	f.now = f.now.Add(24 * time.Hour)
	if _, err := f.svc.VerifyAPIToken(ctx, tok); !errors.Is(err, identity.ErrInvalidToken) {
		t.Fatalf("expired token accepted: %v", err)
	}
}

func TestSignOutEndsEveryTokenOfTheUserOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ana, bob := f.user(t, "ana", store.RoleLinguist), f.user(t, "bob", store.RoleLinguist)
	t1, _, _ := f.svc.IssueAPIToken(ctx, ana)
	t2, _, _ := f.svc.IssueAPIToken(ctx, ana)
	tb, _, _ := f.svc.IssueAPIToken(ctx, bob)
	sess, _ := f.svc.StartSession(ctx, ana, identity.Device{})
	if err := f.svc.SignOut(ctx, ana.UID); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{t1, t2} {
		if _, err := f.svc.VerifyAPIToken(ctx, tok); !errors.Is(err, identity.ErrInvalidToken) {
			t.Fatal("ana's ApiToken survived sign-out")
		}
	}
	if _, _, err := f.svc.LookupSession(ctx, sess.Cookie, identity.Device{}); !errors.Is(err, identity.ErrInvalidToken) {
		t.Fatal("ana's web session survived sign-out")
	}
	if _, err := f.svc.VerifyAPIToken(ctx, tb); err != nil {
		t.Fatal("bob's token was revoked by ana's sign-out")
	}
	got, _ := f.st.GetUser(ctx, ana.UID)
	if !got.LastInvalidateAll.Equal(f.now) {
		t.Fatalf("LastInvalidateAll = %v", got.LastInvalidateAll)
	}
}

func TestLoginOther(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin, err := f.st.GetUserByUserName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	pm := f.user(t, "pm", store.RoleProjectManager)
	if u, err := f.svc.LoginOther(ctx, admin, "PM"); err != nil || u.UID != pm.UID {
		t.Fatalf("admin loginOther: %v", err)
	}
	if _, err := f.svc.LoginOther(ctx, pm, "admin"); !errors.Is(err, identity.ErrForbidden) {
		t.Fatalf("non-admin: %v", err)
	}
	if _, err := f.svc.LoginOther(ctx, admin, "nobody"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	// A user of another organization is invisible.
	other := store.Organization{UID: "00000000-0000-4000-8000-000000000001", Name: "Other", CreatedAt: f.now}
	if err := f.st.CreateOrganization(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUser(ctx, identity.NewUser{OrgUID: other.UID, UserName: "stranger", Email: "s@example.com", Role: store.RoleLinguist, Password: "password-s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.LoginOther(ctx, admin, "stranger"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("other organization: %v", err)
	}
}

func TestHugeUserNamesAreThrottledUnderABoundedKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	huge := strings.Repeat("x", 100_000)
	for i := 0; i < 3; i++ {
		if _, err := f.svc.Authenticate(ctx, "test", huge, "password", "10.1.1."+string(rune('1'+i))); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	var thr *identity.ThrottledError
	if _, err := f.svc.Authenticate(ctx, "test", strings.ToUpper(huge), "password", "10.1.1.9"); !errors.As(err, &thr) {
		t.Fatalf("4th attempt with the same (case-folded) huge name: %v, want throttled", err)
	}
}

// TestT35_UnknownUserCostsOneHash: an unknown user, an inactive one and a
// wrong password each run exactly one argon2id verification, so login
// timing does not tell which case it was (SECURITY.md T35); the error is
// the same too.
func TestT35_UnknownUserCostsOneHash(t *testing.T) {
	f := newFixture(t)
	f.user(t, "ana", store.RoleLinguist)
	ctx := context.Background()
	for _, tc := range []struct{ name, user, pw string }{
		{"unknown user", "nobody", "password-x"},
		{"wrong password", "ana", "password-x"},
		{"unknown email", "nobody@example.com", "password-x"},
	} {
		before := f.svc.Hasher.Runs()
		_, err := f.svc.Authenticate(ctx, "test", tc.user, tc.pw, "10.2.0.1")
		if !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := f.svc.Hasher.Runs() - before; n != 1 {
			t.Errorf("%s ran %d argon2id computations, want exactly 1", tc.name, n)
		}
	}
}
