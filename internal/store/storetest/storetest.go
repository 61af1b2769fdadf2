// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a function that opens a Store on a
// fresh, empty database; Run migrates it, exercises it and closes it.
//
// The suite pins down what the interface comments leave to prose: sentinel
// errors, case-insensitive user names and emails, microsecond UTC times, and
// the atomicity promises (BootstrapAdmin, DeleteAPIToken, SignOutUser,
// RedeemAuthCode, RotateRefreshToken, EnsureSigningKey, RevokeAuthorization)
// under real concurrency. RunInstances repeats the single-use races across
// several Stores on one database.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tolk-project/tolk/internal/store"
)

// Opener returns a Store on a fresh, empty database for t. The database
// must outlive t's cleanups registered after open returns (Run closes the
// Store in one).
type Opener = func(t *testing.T) store.Store

// Run runs the conformance suite against the backend that open opens. Each
// leaf subtest gets its own Store, and the subtests run in parallel.
func Run(t *testing.T, open Opener) {
	t.Run("Migrate", func(t *testing.T) { t.Parallel(); testMigrate(t, open) })
	t.Run("Organizations", func(t *testing.T) { t.Parallel(); testOrganizations(t, open) })
	t.Run("Users", func(t *testing.T) { t.Parallel(); testUsers(t, open) })
	t.Run("Times", func(t *testing.T) { t.Parallel(); testTimes(t, open) })
	t.Run("APITokens", func(t *testing.T) { t.Parallel(); testAPITokens(t, open) })
	t.Run("WebSessions", func(t *testing.T) { t.Parallel(); testWebSessions(t, open) })
	t.Run("SignOutUser", func(t *testing.T) { t.Parallel(); testSignOutUser(t, open) })
	t.Run("Sessions", func(t *testing.T) { t.Parallel(); runSessions(t, open) })
	t.Run("Accounts", func(t *testing.T) { t.Parallel(); runAccounts(t, open) })
	t.Run("Bootstrap", func(t *testing.T) { t.Parallel(); testBootstrap(t, open) })
	t.Run("Concurrency", func(t *testing.T) { t.Parallel(); testConcurrency(t, open) })
	t.Run("PlatformTokens", func(t *testing.T) { t.Parallel(); testPlatformTokens(t, open) })
	t.Run("PATsAPIKeys", func(t *testing.T) { t.Parallel(); runPATsAPIKeys(t, open) })
	runOAuth(t, open)
	t.Run("TwoFactor", func(t *testing.T) { t.Parallel(); runTwoFactor(t, open) })
	t.Run("Audit", func(t *testing.T) { t.Parallel(); runAudit(t, open) })
	t.Run("RateLimits", func(t *testing.T) { t.Parallel(); runRateLimits(t, open) })
	t.Run("Retention", func(t *testing.T) { t.Parallel(); runRetention(t, open) })
	t.Run("PasswordResets", func(t *testing.T) { t.Parallel(); runPasswordResets(t, open) })
	t.Run("UserSearch", func(t *testing.T) { t.Parallel(); runUserSearch(t, open) })
}

// newStore opens, migrates and schedules closing a Store.
func newStore(t *testing.T, open Opener) store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// parallel runs body as a parallel subtest with its own Store.
func parallel(t *testing.T, name string, open Opener, body func(t *testing.T, ctx context.Context, s store.Store)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		body(t, t.Context(), newStore(t, open))
	})
}

// ---- fixtures ----

// base is a microsecond-aligned UTC instant, so fixture times round-trip
// exactly.
func base() time.Time { return time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC) }

func at(minutes int) time.Time { return base().Add(time.Duration(minutes) * time.Minute) }

func newOrg() store.Organization {
	return store.Organization{UID: uuid.NewString(), Name: "Acme Translations", CreatedAt: base()}
}

// shortID mimics the TMS short user id.
func shortID() string { return strings.ReplaceAll(uuid.NewString(), "-", "")[:12] }

func newUser(org store.Organization, userName string) store.User {
	return store.User{
		UID:          uuid.NewString(),
		ID:           shortID(),
		OrgUID:       org.UID,
		UserName:     userName,
		Email:        userName + "@example.com",
		FirstName:    "Ada",
		LastName:     "Lovelace",
		Role:         store.RoleLinguist,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Active:       true,
		CreatedAt:    base(),
		UpdatedAt:    base(),
	}
}

// hash returns a fresh value shaped like a hex SHA-256.
func hash() string {
	return strings.ReplaceAll(uuid.NewString()+uuid.NewString(), "-", "")
}

func newToken(userUID string, expires time.Time) store.APIToken {
	return store.APIToken{Hash: hash(), UserUID: userUID, CreatedAt: base(), ExpiresAt: expires}
}

func newSession(userUID string) store.WebSession {
	return store.WebSession{
		Hash: hash(), UserUID: userUID, CSRFToken: hash(),
		AuthTime: base(), CreatedAt: base(), ExpiresAt: at(60),
	}
}

func mustOrg(t testing.TB, s store.Store) store.Organization {
	t.Helper()
	o := newOrg()
	if err := s.CreateOrganization(t.Context(), o); err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	return o
}

func mustUser(t testing.TB, s store.Store, u store.User) store.User {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.UserName, err)
	}
	return u
}

func mustToken(t *testing.T, s store.Store, tok store.APIToken) store.APIToken {
	t.Helper()
	if err := s.CreateAPIToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateAPIToken: %v", err)
	}
	return tok
}

func mustSession(t *testing.T, s store.Store, ws store.WebSession) store.WebSession {
	t.Helper()
	if err := s.CreateWebSession(t.Context(), ws); err != nil {
		t.Fatalf("CreateWebSession: %v", err)
	}
	return ws
}

// ---- comparisons ----

// checkTime reports a time that is not want's instant at microsecond
// precision, or not in UTC.
func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	want = want.Truncate(time.Microsecond)
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", what, got.Location())
	}
}

func checkOrg(t *testing.T, got, want store.Organization) {
	t.Helper()
	if got.UID != want.UID || got.Name != want.Name {
		t.Errorf("organization = %+v, want %+v", got, want)
	}
	checkTime(t, "Organization.CreatedAt", got.CreatedAt, want.CreatedAt)
}

func checkUser(t *testing.T, got, want store.User) {
	t.Helper()
	g, w := got, want
	g.LastInvalidateAll, g.CreatedAt, g.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	w.LastInvalidateAll, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	if g != w {
		t.Errorf("user = %+v\nwant   %+v", g, w)
	}
	if want.LastInvalidateAll.IsZero() {
		if !got.LastInvalidateAll.IsZero() {
			t.Errorf("User.LastInvalidateAll = %v, want zero", got.LastInvalidateAll)
		}
	} else {
		checkTime(t, "User.LastInvalidateAll", got.LastInvalidateAll, want.LastInvalidateAll)
	}
	checkTime(t, "User.CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "User.UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func checkToken(t *testing.T, got, want store.APIToken) {
	t.Helper()
	if got.Hash != want.Hash || got.UserUID != want.UserUID {
		t.Errorf("token = %+v, want %+v", got, want)
	}
	checkTime(t, "APIToken.CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "APIToken.ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func checkSession(t *testing.T, got, want store.WebSession) {
	t.Helper()
	if got.Hash != want.Hash || got.UserUID != want.UserUID || got.CSRFToken != want.CSRFToken {
		t.Errorf("session = %+v, want %+v", got, want)
	}
	checkTime(t, "WebSession.AuthTime", got.AuthTime, want.AuthTime)
	checkTime(t, "WebSession.CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "WebSession.ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func checkErrIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error = %v, want errors.Is %v", what, err, want)
	}
}

func checkCount(t *testing.T, s store.Store, want int) {
	t.Helper()
	n, err := s.CountUsers(t.Context())
	if err != nil {
		t.Fatalf("CountUsers: %v", err)
	}
	if n != want {
		t.Errorf("CountUsers = %d, want %d", n, want)
	}
}

// ---- Migrate ----

func testMigrate(t *testing.T, open Opener) {
	parallel(t, "Idempotent", open, func(t *testing.T, ctx context.Context, s store.Store) {
		for i := range 2 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate again (#%d): %v", i+2, err)
			}
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		checkCount(t, s, 0)
	})
}

// ---- organizations ----

func testOrganizations(t *testing.T, open Opener) {
	parallel(t, "CreateGet", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		got, err := s.GetOrganization(ctx, o.UID)
		if err != nil {
			t.Fatalf("GetOrganization: %v", err)
		}
		checkOrg(t, got, o)
	})
	parallel(t, "DuplicateUID", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		dup := o
		dup.Name = "Other"
		checkErrIs(t, "CreateOrganization(same UID)", s.CreateOrganization(ctx, dup), store.ErrConflict)
	})
	parallel(t, "NotFound", open, func(t *testing.T, ctx context.Context, s store.Store) {
		mustOrg(t, s)
		_, err := s.GetOrganization(ctx, uuid.NewString())
		checkErrIs(t, "GetOrganization(unknown)", err, store.ErrNotFound)
	})
}

// ---- users ----

func testUsers(t *testing.T, open Opener) {
	parallel(t, "CreateGet", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u := newUser(o, "Jane.Doe")
		u.Email = "Jane.Doe@Example.COM"
		u.Role = store.RoleAdmin
		u.Active = false
		mustUser(t, s, u)

		got, err := s.GetUser(ctx, u.UID)
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		checkUser(t, got, u)

		lookups := []struct {
			name string
			get  func(context.Context, string) (store.User, error)
			keys []string
		}{
			{"GetUserByUserName", s.GetUserByUserName, []string{"Jane.Doe", "jane.doe", "JANE.DOE", "jAnE.dOe"}},
			{"GetUserByEmail", s.GetUserByEmail, []string{"Jane.Doe@Example.COM", "jane.doe@example.com", "JANE.DOE@EXAMPLE.COM"}},
		}
		for _, l := range lookups {
			for _, k := range l.keys {
				got, err := l.get(ctx, k)
				if err != nil {
					t.Errorf("%s(%q): %v", l.name, k, err)
					continue
				}
				checkUser(t, got, u)
			}
		}
	})

	parallel(t, "NonASCIICase", open, func(t *testing.T, ctx context.Context, s store.Store) {
		// Both backends must fold beyond ASCII, and alike.
		o := mustOrg(t, s)
		u := newUser(o, "Émile.Żółć")
		u.Email = "ÉMILE@ÉCOLE.example"
		mustUser(t, s, u)
		for _, k := range []string{"émile.żółć", "ÉMILE.ŻÓŁĆ"} {
			if _, err := s.GetUserByUserName(ctx, k); err != nil {
				t.Errorf("GetUserByUserName(%q): %v", k, err)
			}
		}
		if _, err := s.GetUserByEmail(ctx, "émile@école.example"); err != nil {
			t.Errorf("GetUserByEmail: %v", err)
		}
		dup := newUser(o, "émile.żółć")
		checkErrIs(t, "CreateUser(non-ASCII case variant)", s.CreateUser(ctx, dup), store.ErrConflict)
	})

	parallel(t, "Conflicts", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		orig := mustUser(t, s, newUser(o, "alice"))
		tests := []struct {
			name   string
			mutate func(u *store.User)
		}{
			{"same user name", func(u *store.User) { u.UserName = "alice" }},
			{"user name differing in case", func(u *store.User) { u.UserName = "ALICE" }},
			{"same email", func(u *store.User) { u.Email = orig.Email }},
			{"email differing in case", func(u *store.User) { u.Email = strings.ToUpper(orig.Email) }},
			{"same UID", func(u *store.User) { u.UID = orig.UID }},
			{"same ID", func(u *store.User) { u.ID = orig.ID }},
		}
		for _, tt := range tests {
			u := newUser(o, "bob")
			tt.mutate(&u)
			checkErrIs(t, "CreateUser with "+tt.name, s.CreateUser(ctx, u), store.ErrConflict)
		}
		checkCount(t, s, 1)
		// Nothing was half-written: the unique values of the failed
		// attempts ("bob") are still free.
		mustUser(t, s, newUser(o, "bob"))
		checkCount(t, s, 2)
	})

	parallel(t, "UnknownOrganization", open, func(t *testing.T, ctx context.Context, s store.Store) {
		if err := s.CreateUser(ctx, newUser(newOrg(), "orphan")); err == nil {
			t.Errorf("CreateUser with unknown OrgUID succeeded")
		}
		checkCount(t, s, 0)
	})

	parallel(t, "NotFound", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		mustUser(t, s, newUser(o, "present"))
		tests := []struct {
			name string
			call func() error
		}{
			{"GetUser", func() error { _, err := s.GetUser(ctx, uuid.NewString()); return err }},
			{"GetUserByUserName", func() error { _, err := s.GetUserByUserName(ctx, "absent"); return err }},
			{"GetUserByEmail", func() error { _, err := s.GetUserByEmail(ctx, "absent@example.com"); return err }},
			{"UpdatePasswordHash", func() error { return s.UpdatePasswordHash(ctx, uuid.NewString(), "h", at(1)) }},
			{"SignOutUser", func() error { return s.SignOutUser(ctx, uuid.NewString(), at(1)) }},
		}
		for _, tt := range tests {
			checkErrIs(t, tt.name+"(unknown)", tt.call(), store.ErrNotFound)
		}
	})

	parallel(t, "ListCount", open, func(t *testing.T, ctx context.Context, s store.Store) {
		if us, err := s.ListUsers(ctx); err != nil || len(us) != 0 {
			t.Fatalf("ListUsers on empty store = %v, %v; want none", us, err)
		}
		checkCount(t, s, 0)
		o := mustOrg(t, s)
		// Inserted out of creation order.
		var want []store.User
		for _, m := range []int{30, 10, 20, 0} {
			u := newUser(o, fmt.Sprintf("user%02d", m))
			u.CreatedAt, u.UpdatedAt = at(m), at(m)
			mustUser(t, s, u)
			want = append(want, u)
		}
		want = []store.User{want[3], want[1], want[2], want[0]}
		got, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("ListUsers returned %d users, want %d", len(got), len(want))
		}
		for i := range want {
			checkUser(t, got[i], want[i])
		}
		checkCount(t, s, 4)
	})

	parallel(t, "UpdatePasswordHash", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		u := mustUser(t, s, newUser(o, "carol"))
		other := mustUser(t, s, newUser(o, "dave"))
		if err := s.UpdatePasswordHash(ctx, u.UID, "$argon2id$new", at(5)); err != nil {
			t.Fatalf("UpdatePasswordHash: %v", err)
		}
		got, err := s.GetUser(ctx, u.UID)
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		u.PasswordHash, u.UpdatedAt = "$argon2id$new", at(5)
		checkUser(t, got, u)
		gotOther, err := s.GetUser(ctx, other.UID)
		if err != nil {
			t.Fatalf("GetUser(other): %v", err)
		}
		checkUser(t, gotOther, other)
	})

	parallel(t, "LastInvalidateAllRoundTrip", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		never := mustUser(t, s, newUser(o, "never"))
		once := newUser(o, "once")
		once.LastInvalidateAll = at(-5)
		mustUser(t, s, once)
		for _, u := range []store.User{never, once} {
			got, err := s.GetUser(ctx, u.UID)
			if err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			checkUser(t, got, u)
		}
	})

	parallel(t, "SQLInjectionIsLiteral", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		bystander := mustUser(t, s, newUser(o, "bystander"))
		payloads := []string{
			`' OR 1=1--`,
			`"; DROP TABLE users;--`,
			`'); DELETE FROM users; --`,
			`admin'--`,
			`%`,
			`_`,
			`\' OR \'\'=\'`,
		}
		// Absent payloads match nothing, however they would parse as SQL.
		for _, p := range payloads {
			_, err := s.GetUserByUserName(ctx, p)
			checkErrIs(t, fmt.Sprintf("GetUserByUserName(%q) before create", p), err, store.ErrNotFound)
			_, err = s.GetUserByEmail(ctx, p)
			checkErrIs(t, fmt.Sprintf("GetUserByEmail(%q) before create", p), err, store.ErrNotFound)
		}
		users := map[string]store.User{}
		for _, p := range payloads {
			u := newUser(o, "x")
			u.UserName, u.Email, u.FirstName = p, p+"@example.com", p
			users[p] = mustUser(t, s, u)
		}
		for _, p := range payloads {
			got, err := s.GetUserByUserName(ctx, p)
			if err != nil {
				t.Errorf("GetUserByUserName(%q): %v", p, err)
				continue
			}
			checkUser(t, got, users[p])
			got, err = s.GetUserByEmail(ctx, p+"@example.com")
			if err != nil {
				t.Errorf("GetUserByEmail(%q): %v", p+"@example.com", err)
				continue
			}
			checkUser(t, got, users[p])
		}
		checkCount(t, s, len(payloads)+1)
		got, err := s.GetUser(ctx, bystander.UID)
		if err != nil {
			t.Fatalf("GetUser(bystander): %v", err)
		}
		checkUser(t, got, bystander)
	})
}

// ---- times ----

func testTimes(t *testing.T, open Opener) {
	plus2 := time.FixedZone("UTC+2", 2*60*60)
	minus7 := time.FixedZone("UTC-7", -7*60*60)
	tests := []struct {
		name string
		t    time.Time
	}{
		{"UTC microseconds", time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)},
		{"nanoseconds truncated", time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{"non-UTC zone", time.Date(2025, 6, 30, 23, 59, 59, 999999000, plus2)},
		{"negative offset across midnight", time.Date(2024, 2, 29, 22, 0, 0, 1000, minus7)},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"far future", time.Date(2999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"monotonic clock reading", time.Now()},
	}
	parallel(t, "RoundTrip", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := newOrg()
		o.CreatedAt = tests[2].t
		if err := s.CreateOrganization(ctx, o); err != nil {
			t.Fatalf("CreateOrganization: %v", err)
		}
		if got, err := s.GetOrganization(ctx, o.UID); err != nil {
			t.Fatalf("GetOrganization: %v", err)
		} else {
			checkOrg(t, got, o)
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u := newUser(o, fmt.Sprintf("time%d", i))
				u.CreatedAt, u.UpdatedAt, u.LastInvalidateAll = tt.t, tt.t, tt.t
				mustUser(t, s, u)
				gotU, err := s.GetUser(ctx, u.UID)
				if err != nil {
					t.Fatalf("GetUser: %v", err)
				}
				checkUser(t, gotU, u)

				tok := mustToken(t, s, store.APIToken{Hash: hash(), UserUID: u.UID, CreatedAt: tt.t, ExpiresAt: tt.t})
				gotT, err := s.GetAPIToken(ctx, tok.Hash)
				if err != nil {
					t.Fatalf("GetAPIToken: %v", err)
				}
				checkToken(t, gotT, tok)

				ws := newSession(u.UID)
				ws.AuthTime, ws.CreatedAt, ws.ExpiresAt = tt.t, tt.t, tt.t
				mustSession(t, s, ws)
				gotS, err := s.GetWebSession(ctx, ws.Hash)
				if err != nil {
					t.Fatalf("GetWebSession: %v", err)
				}
				checkSession(t, gotS, ws)
			})
		}
	})
}

// ---- API tokens ----

func testAPITokens(t *testing.T, open Opener) {
	parallel(t, "CreateGetDelete", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "erin"))
		tok := mustToken(t, s, newToken(u.UID, at(-60))) // expired: Get still returns it
		other := mustToken(t, s, newToken(u.UID, at(60)))
		got, err := s.GetAPIToken(ctx, tok.Hash)
		if err != nil {
			t.Fatalf("GetAPIToken: %v", err)
		}
		checkToken(t, got, tok)

		deleted, err := s.DeleteAPIToken(ctx, tok.Hash)
		if err != nil || !deleted {
			t.Fatalf("DeleteAPIToken = %v, %v; want true, nil", deleted, err)
		}
		deleted, err = s.DeleteAPIToken(ctx, tok.Hash)
		if err != nil || deleted {
			t.Fatalf("DeleteAPIToken again = %v, %v; want false, nil", deleted, err)
		}
		_, err = s.GetAPIToken(ctx, tok.Hash)
		checkErrIs(t, "GetAPIToken(deleted)", err, store.ErrNotFound)
		if _, err := s.GetAPIToken(ctx, other.Hash); err != nil {
			t.Errorf("GetAPIToken(other): %v", err)
		}
	})
	parallel(t, "Errors", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "frank"))
		tok := mustToken(t, s, newToken(u.UID, at(60)))
		checkErrIs(t, "CreateAPIToken(duplicate hash)", s.CreateAPIToken(ctx, tok), store.ErrConflict)
		if err := s.CreateAPIToken(ctx, newToken(uuid.NewString(), at(60))); err == nil {
			t.Errorf("CreateAPIToken for unknown user succeeded")
		}
		_, err := s.GetAPIToken(ctx, hash())
		checkErrIs(t, "GetAPIToken(unknown)", err, store.ErrNotFound)
		if deleted, err := s.DeleteAPIToken(ctx, hash()); err != nil || deleted {
			t.Errorf("DeleteAPIToken(unknown) = %v, %v; want false, nil", deleted, err)
		}
	})
	parallel(t, "DeleteExpired", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "grace"))
		now := at(0)
		tests := []struct {
			name    string
			expires time.Time
			gone    bool
		}{
			{"long expired", at(-600), true},
			{"expired a microsecond ago", now.Add(-time.Microsecond), true},
			{"expiring exactly now", now, false},
			{"valid", at(1), false},
		}
		toks := make([]store.APIToken, len(tests))
		for i, tt := range tests {
			toks[i] = mustToken(t, s, newToken(u.UID, tt.expires))
		}
		n, err := deleteExpired(ctx, s, now, store.ExpiredAPITokens)
		if err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		if n != 2 {
			t.Errorf("DeleteExpired = %d, want 2", n)
		}
		for i, tt := range tests {
			_, err := s.GetAPIToken(ctx, toks[i].Hash)
			switch {
			case tt.gone && !errors.Is(err, store.ErrNotFound):
				t.Errorf("%s: GetAPIToken error = %v, want ErrNotFound", tt.name, err)
			case !tt.gone && err != nil:
				t.Errorf("%s: GetAPIToken: %v", tt.name, err)
			}
		}
		if n, err := deleteExpired(ctx, s, now, store.ExpiredAPITokens); err != nil || n != 0 {
			t.Errorf("DeleteExpired again = %d, %v; want 0, nil", n, err)
		}
	})
}

// ---- web sessions ----

func testWebSessions(t *testing.T, open Opener) {
	parallel(t, "CreateGetDelete", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "heidi"))
		ws := newSession(u.UID)
		ws.AuthTime = at(-3)
		mustSession(t, s, ws)
		got, err := s.GetWebSession(ctx, ws.Hash)
		if err != nil {
			t.Fatalf("GetWebSession: %v", err)
		}
		checkSession(t, got, ws)
		deleted, err := s.DeleteWebSession(ctx, ws.Hash)
		if err != nil || !deleted {
			t.Fatalf("DeleteWebSession = %v, %v; want true, nil", deleted, err)
		}
		deleted, err = s.DeleteWebSession(ctx, ws.Hash)
		if err != nil || deleted {
			t.Fatalf("DeleteWebSession again = %v, %v; want false, nil", deleted, err)
		}
		_, err = s.GetWebSession(ctx, ws.Hash)
		checkErrIs(t, "GetWebSession(deleted)", err, store.ErrNotFound)
	})
	parallel(t, "Errors", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "ivan"))
		ws := mustSession(t, s, newSession(u.UID))
		checkErrIs(t, "CreateWebSession(duplicate hash)", s.CreateWebSession(ctx, ws), store.ErrConflict)
		if err := s.CreateWebSession(ctx, newSession(uuid.NewString())); err == nil {
			t.Errorf("CreateWebSession for unknown user succeeded")
		}
		_, err := s.GetWebSession(ctx, hash())
		checkErrIs(t, "GetWebSession(unknown)", err, store.ErrNotFound)
	})
}

// ---- SignOutUser ----

func testSignOutUser(t *testing.T, open Opener) {
	parallel(t, "OnlyThatUser", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		type creds struct {
			user     store.User
			tokens   []store.APIToken
			sessions []store.WebSession
		}
		mk := func(name string) creds {
			c := creds{user: mustUser(t, s, newUser(o, name))}
			for range 2 {
				c.tokens = append(c.tokens, mustToken(t, s, newToken(c.user.UID, at(60))))
				c.sessions = append(c.sessions, mustSession(t, s, newSession(c.user.UID)))
			}
			return c
		}
		out, stay := mk("judy"), mk("mallory")

		if err := s.SignOutUser(ctx, out.user.UID, at(7)); err != nil {
			t.Fatalf("SignOutUser: %v", err)
		}
		for _, c := range []struct {
			creds
			gone bool
		}{{out, true}, {stay, false}} {
			for _, tok := range c.tokens {
				_, err := s.GetAPIToken(ctx, tok.Hash)
				if c.gone {
					checkErrIs(t, "GetAPIToken of signed-out user", err, store.ErrNotFound)
				} else if err != nil {
					t.Errorf("GetAPIToken of other user: %v", err)
				}
			}
			for _, ws := range c.sessions {
				_, err := s.GetWebSession(ctx, ws.Hash)
				if c.gone {
					checkErrIs(t, "GetWebSession of signed-out user", err, store.ErrNotFound)
				} else if err != nil {
					t.Errorf("GetWebSession of other user: %v", err)
				}
			}
		}
		got, err := s.GetUser(ctx, out.user.UID)
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		want := out.user
		want.LastInvalidateAll = at(7)
		checkUser(t, got, want)
		got, err = s.GetUser(ctx, stay.user.UID)
		if err != nil {
			t.Fatalf("GetUser(other): %v", err)
		}
		checkUser(t, got, stay.user)

		// Again, with nothing left to delete: still fine, time moves.
		if err := s.SignOutUser(ctx, out.user.UID, at(8)); err != nil {
			t.Fatalf("SignOutUser again: %v", err)
		}
		if got, err = s.GetUser(ctx, out.user.UID); err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		checkTime(t, "LastInvalidateAll after second sign-out", got.LastInvalidateAll, at(8))
	})
}

// ---- bootstrap ----

func newAdmin(org store.Organization, name string) store.User {
	u := newUser(org, name)
	u.Role = store.RoleAdmin
	return u
}

func testBootstrap(t *testing.T, open Opener) {
	parallel(t, "OnlyOnce", open, func(t *testing.T, ctx context.Context, s store.Store) {
		_, err := s.DefaultOrganization(ctx)
		checkErrIs(t, "DefaultOrganization before bootstrap", err, store.ErrNotFound)

		org := newOrg()
		admin := newAdmin(org, "admin")
		created, err := s.BootstrapAdmin(ctx, org, admin)
		if err != nil || !created {
			t.Fatalf("BootstrapAdmin = %v, %v; want true, nil", created, err)
		}
		gotOrg, err := s.DefaultOrganization(ctx)
		if err != nil {
			t.Fatalf("DefaultOrganization: %v", err)
		}
		checkOrg(t, gotOrg, org)
		gotAdmin, err := s.GetUserByUserName(ctx, "admin")
		if err != nil {
			t.Fatalf("GetUserByUserName(admin): %v", err)
		}
		checkUser(t, gotAdmin, admin)

		org2 := newOrg()
		created, err = s.BootstrapAdmin(ctx, org2, newAdmin(org2, "root"))
		if err != nil || created {
			t.Fatalf("second BootstrapAdmin = %v, %v; want false, nil", created, err)
		}
		checkCount(t, s, 1)
		_, err = s.GetOrganization(ctx, org2.UID)
		checkErrIs(t, "GetOrganization(org of refused bootstrap)", err, store.ErrNotFound)
		if gotOrg, err := s.DefaultOrganization(ctx); err != nil || gotOrg.UID != org.UID {
			t.Errorf("DefaultOrganization after refused bootstrap = %+v, %v; want %s", gotOrg, err, org.UID)
		}
	})
	parallel(t, "NotWhenUsersExist", open, func(t *testing.T, ctx context.Context, s store.Store) {
		mustUser(t, s, newUser(mustOrg(t, s), "early"))
		org := newOrg()
		created, err := s.BootstrapAdmin(ctx, org, newAdmin(org, "admin"))
		if err != nil || created {
			t.Fatalf("BootstrapAdmin with a user present = %v, %v; want false, nil", created, err)
		}
		checkCount(t, s, 1)
		_, err = s.DefaultOrganization(ctx)
		checkErrIs(t, "DefaultOrganization after refused bootstrap", err, store.ErrNotFound)
		_, err = s.GetOrganization(ctx, org.UID)
		checkErrIs(t, "GetOrganization(org of refused bootstrap)", err, store.ErrNotFound)
	})
	parallel(t, "AdminOfOtherOrg", open, func(t *testing.T, ctx context.Context, s store.Store) {
		org := newOrg()
		if created, err := s.BootstrapAdmin(ctx, org, newAdmin(newOrg(), "admin")); err == nil || created {
			t.Errorf("BootstrapAdmin with admin.OrgUID != org.UID = %v, %v; want an error", created, err)
		}
		checkCount(t, s, 0)
	})
}

// ---- concurrency ----

// workers is how many goroutines race in each concurrency test.
const workers = 16

// race runs fn(i) for i in [0, workers) in goroutines released together,
// returning when all are done.
func race(fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func testConcurrency(t *testing.T, open Opener) {
	parallel(t, "BootstrapAdmin", open, func(t *testing.T, ctx context.Context, s store.Store) {
		var created [workers]bool
		var errs [workers]error
		orgs := make([]store.Organization, workers)
		for i := range orgs {
			orgs[i] = newOrg()
		}
		race(func(i int) {
			// Same admin name for all: losers must see false, not ErrConflict.
			created[i], errs[i] = s.BootstrapAdmin(ctx, orgs[i], newAdmin(orgs[i], "admin"))
		})
		winner := -1
		for i := range workers {
			if errs[i] != nil {
				t.Errorf("BootstrapAdmin #%d: %v", i, errs[i])
			}
			if created[i] {
				if winner >= 0 {
					t.Errorf("BootstrapAdmin: both #%d and #%d created", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("BootstrapAdmin: no caller created")
		}
		checkCount(t, s, 1)
		if got, err := s.DefaultOrganization(ctx); err != nil || got.UID != orgs[winner].UID {
			t.Errorf("DefaultOrganization = %+v, %v; want the winner's %s", got, err, orgs[winner].UID)
		}
	})

	parallel(t, "BootstrapAdminDistinctNames", open, func(t *testing.T, ctx context.Context, s store.Store) {
		var n sync.Map
		race(func(i int) {
			org := newOrg()
			created, err := s.BootstrapAdmin(ctx, org, newAdmin(org, fmt.Sprintf("admin%d", i)))
			if err != nil {
				t.Errorf("BootstrapAdmin #%d: %v", i, err)
			}
			if created {
				n.Store(i, true)
			}
		})
		count := 0
		n.Range(func(any, any) bool { count++; return true })
		if count != 1 {
			t.Errorf("BootstrapAdmin: %d callers created, want exactly 1", count)
		}
		checkCount(t, s, 1)
	})

	parallel(t, "DeleteAPIToken", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "oscar"))
		tok := mustToken(t, s, newToken(u.UID, at(60)))
		var deleted [workers]bool
		race(func(i int) {
			var err error
			if deleted[i], err = s.DeleteAPIToken(ctx, tok.Hash); err != nil {
				t.Errorf("DeleteAPIToken #%d: %v", i, err)
			}
		})
		if n := countTrue(deleted[:]); n != 1 {
			t.Errorf("DeleteAPIToken: %d callers deleted, want exactly 1", n)
		}
	})

	parallel(t, "DeleteWebSession", open, func(t *testing.T, ctx context.Context, s store.Store) {
		u := mustUser(t, s, newUser(mustOrg(t, s), "peggy"))
		ws := mustSession(t, s, newSession(u.UID))
		var deleted [workers]bool
		race(func(i int) {
			var err error
			if deleted[i], err = s.DeleteWebSession(ctx, ws.Hash); err != nil {
				t.Errorf("DeleteWebSession #%d: %v", i, err)
			}
		})
		if n := countTrue(deleted[:]); n != 1 {
			t.Errorf("DeleteWebSession: %d callers deleted, want exactly 1", n)
		}
	})

	parallel(t, "CreateUserSameName", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o := mustOrg(t, s)
		var errs [workers]error
		race(func(i int) {
			name := "Trent"
			if i%2 == 1 {
				name = "tRENT" // case variants collide too
			}
			u := newUser(o, name)
			u.Email = fmt.Sprintf("trent%d@example.com", i)
			errs[i] = s.CreateUser(ctx, u)
		})
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("CreateUser #%d: error = %v, want nil or ErrConflict", i, err)
			}
		}
		if ok != 1 {
			t.Errorf("CreateUser: %d callers succeeded, want exactly 1", ok)
		}
		checkCount(t, s, 1)
	})

	parallel(t, "DistinctWrites", open, func(t *testing.T, ctx context.Context, s store.Store) {
		// Every kind of write at once; none may fail (e.g. SQLITE_BUSY).
		o := mustOrg(t, s)
		seed := make([]store.User, workers)
		for i := range seed {
			seed[i] = mustUser(t, s, newUser(o, fmt.Sprintf("seed%d", i)))
			mustToken(t, s, newToken(seed[i].UID, at(60)))
		}
		race(func(i int) {
			steps := []struct {
				name string
				do   func() error
			}{
				{"CreateUser", func() error { return s.CreateUser(ctx, newUser(o, fmt.Sprintf("new%d", i))) }},
				{"CreateAPIToken", func() error { return s.CreateAPIToken(ctx, newToken(seed[i].UID, at(60))) }},
				{"CreateWebSession", func() error { return s.CreateWebSession(ctx, newSession(seed[i].UID)) }},
				{"UpdatePasswordHash", func() error { return s.UpdatePasswordHash(ctx, seed[i].UID, "h", at(1)) }},
				{"CreateOrganization", func() error { return s.CreateOrganization(ctx, newOrg()) }},
				{"SignOutUser", func() error { return s.SignOutUser(ctx, seed[i].UID, at(2)) }},
				{"DeleteExpired", func() error { _, err := deleteExpired(ctx, s, at(0), store.ExpiredAPITokens); return err }},
			}
			for _, st := range steps {
				if err := st.do(); err != nil {
					t.Errorf("worker %d: %s: %v", i, st.name, err)
				}
			}
		})
		checkCount(t, s, 2*workers)
	})
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
