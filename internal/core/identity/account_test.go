package identity_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/kit/passwordpolicy"
	"github.com/tolk-project/tolk/internal/store"
)

// recorded returns the events about uid, sorted (the fixture's clock
// stands still), as "type" or "type key=value…" for the details asked.
func recorded(t *testing.T, f *fixture, uid string, keys ...string) []string {
	t.Helper()
	f.svc.Audit.Flush()
	evs, err := f.st.ListAuditEvents(context.Background(), store.AuditFilter{UserUID: uid, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range evs {
		s := evs[i].Type
		for _, k := range keys {
			if v, ok := evs[i].Details[k]; ok {
				s += " " + k + "=" + v
			}
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func withAudit(f *fixture) {
	f.svc.Audit = &audit.Recorder{Store: f.st, Now: f.svc.Now}
}

// TestChangePasswordChecksCurrentFirst: a wrong current password is
// refused as a failed sign-in whatever the new one is (no policy answer
// tells a thief anything), and nothing is recorded as changed; a right one
// meets the policy; only a change that passes both is audited, never with
// the password.
func TestChangePasswordChecksCurrentFirst(t *testing.T) {
	f := newFixture(t)
	withAudit(f)
	u := f.user(t, "cora", store.RoleLinguist)
	ctx := context.Background()
	if err := f.svc.ChangePassword(ctx, u, "", "wrong", "short", "192.0.2.1"); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Fatalf("wrong current, weak new: %v, want ErrInvalidCredentials", err)
	}
	var v *passwordpolicy.Violation
	if err := f.svc.ChangePassword(ctx, u, "", "password-cora", "password-cora", "192.0.2.1"); !errors.As(err, &v) || v.Code != passwordpolicy.SameAsCurrent {
		t.Fatalf("same password: %v", err)
	}
	if err := f.svc.ChangePassword(ctx, u, "", "password-cora", "a-much-better-password", "192.0.2.1"); err != nil {
		t.Fatalf("change: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, "test", "cora", "a-much-better-password", "192.0.2.1"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	got := recorded(t, f, u.UID, "source")
	if strings.Join(got, ",") != "user.created,user.password_changed source=web" {
		t.Errorf("events = %q", got)
	}
}

// TestCLIChangesAreAudited: tolk user passwd and update record what
// changed (never a value of a password), with the source.
func TestCLIChangesAreAudited(t *testing.T) {
	f := newFixture(t)
	withAudit(f)
	u := f.user(t, "cleo", store.RoleLinguist)
	ctx := context.Background()
	if _, err := f.svc.SetPassword(ctx, "cleo", "cleo"); err == nil {
		t.Fatal("the user name as password was accepted")
	}
	if _, err := f.svc.SetPassword(ctx, "cleo", "an-operator-set-this-one"); err != nil {
		t.Fatal(err)
	}
	mail, first, role, off := "cleo@new.example", "Cleo", store.RoleAdmin, false
	got, err := f.svc.UpdateUser(ctx, "CLEO", identity.UserUpdate{Email: &mail, FirstName: &first, Role: &role, Active: &off})
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != mail || got.FirstName != first || got.Role != role || got.Active {
		t.Fatalf("updated: %+v", got)
	}
	// Nothing given, nothing changes, nothing recorded.
	if _, err := f.svc.UpdateUser(ctx, "cleo", identity.UserUpdate{}); err != nil {
		t.Fatal(err)
	}
	want := "user.created,user.deactivated source=cli,user.password_changed source=cli,user.role_changed source=cli,user.updated fields=first_name,email"
	if ev := strings.Join(recorded(t, f, u.UID, "source", "fields"), ","); ev != want {
		t.Errorf("events = %q\nwant     %q", ev, want)
	}
	if _, err := f.svc.UpdateUser(ctx, "nobody", identity.UserUpdate{FirstName: &first}); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("update of nobody: %v", err)
	}
}

// TestUpdateProfileEmailNeedsPassword: the email changes only with the
// current password; names and language without; an invalid email or
// language tag is a ValidationError.
func TestUpdateProfileEmailNeedsPassword(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "emil", store.RoleLinguist)
	ctx := context.Background()
	ch := identity.ProfileChange{FirstName: "Emil", Email: "emil@new.example"}
	if _, err := f.svc.UpdateProfile(ctx, u, ch, "", "192.0.2.2"); !errors.Is(err, identity.ErrPasswordRequired) {
		t.Fatalf("no password: %v", err)
	}
	if _, err := f.svc.UpdateProfile(ctx, u, ch, "wrong", "192.0.2.2"); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if cur, _ := f.st.GetUser(ctx, u.UID); cur.Email != u.Email || cur.FirstName != u.FirstName {
		t.Fatalf("refused changes were stored: %+v", cur)
	}
	var verr *identity.ValidationError
	for _, bad := range []identity.ProfileChange{
		{Email: "not an address"}, {Email: u.Email, Language: "de\x00"}, {Email: u.Email, FirstName: strings.Repeat("x", 256)},
	} {
		if _, err := f.svc.UpdateProfile(ctx, u, bad, "password-emil", "192.0.2.2"); !errors.As(err, &verr) {
			t.Errorf("%+v: %v, want a ValidationError", bad, err)
		}
	}
	nu, err := f.svc.UpdateProfile(ctx, u, identity.ProfileChange{FirstName: "Emil", Email: u.Email, Language: "de"}, "", "192.0.2.2")
	if err != nil || nu.FirstName != "Emil" || nu.Language != "de" {
		t.Fatalf("names and language without a password: %+v %v", nu, err)
	}
	if nu, err = f.svc.UpdateProfile(ctx, nu, ch, "password-emil", "192.0.2.2"); err != nil || nu.Email != ch.Email {
		t.Fatalf("email with the password: %+v %v", nu, err)
	}
	other := f.user(t, "olga", store.RoleLinguist)
	if _, err := f.svc.UpdateProfile(ctx, nu, identity.ProfileChange{Email: other.Email}, "password-emil", "192.0.2.2"); !errors.Is(err, identity.ErrConflict) {
		t.Errorf("a taken email: %v, want ErrConflict", err)
	}
}
