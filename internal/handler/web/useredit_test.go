package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

var ueRowRE = regexp.MustCompile(`<th scope="row" id="user-[^"]+">([^<]+)`)

// TestUsersEdit: Edit on the users page changes another user's email,
// first and last name and role; each change is audited; a taken or
// invalid email is refused; the form needs its CSRF token and an admin.
func TestUsersEdit(t *testing.T) {
	rcBackends(t, func(t *testing.T, pg bool) {
		s := tolktest.New(t, tolktest.Options{Postgres: pg})
		bob := s.CreateUser(t, "bob", store.RoleLinguist, alicePassword)
		s.CreateUser(t, "carl", store.RoleLinguist, alicePassword)
		admin := newBrowser(s)
		admin.signIn(t, "admin", tolktest.AdminPassword)
		_, list := admin.do(t, http.MethodGet, "/settings/users", nil)
		if !strings.Contains(list, `href="/settings/users/`+bob.UID+`/edit"`) {
			t.Fatalf("no Edit link for bob:\n%s", list)
		}
		resp, page := admin.do(t, http.MethodGet, "/settings/users/"+bob.UID+"/edit", nil)
		for _, want := range []string{`<label for="email">Email</label>`, `<label for="first_name">First name</label>`,
			`<label for="last_name">Last name</label>`, `<label for="role">Role</label>`, `>Save</button>`, `value="bob@example.com"`} {
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, want) {
				t.Fatalf("Edit page (%d) lacks %s:\n%s", resp.StatusCode, want, page)
			}
		}
		csrf := csrfRE.FindStringSubmatch(page)[1]
		post := func(f url.Values, hdr ...string) (*http.Response, string) {
			return admin.do(t, http.MethodPost, "/settings/users/"+bob.UID+"/edit", f, hdr...)
		}
		form := func(email, role string) url.Values {
			return url.Values{"csrf_token": {csrf}, "email": {email}, "first_name": {" Robert "}, "last_name": {"Builder"}, "role": {role}}
		}
		for _, c := range []struct {
			f      url.Values
			hdr    []string
			status int
		}{
			{url.Values{"email": {"x@example.com"}, "role": {"ADMIN"}}, nil, http.StatusForbidden},
			{form("x@example.com", "ADMIN"), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
			{form("carl@EXAMPLE.com", "ADMIN"), nil, http.StatusConflict},
			{form("not an address", "ADMIN"), nil, http.StatusBadRequest},
			{form("robert@example.com", "ROOT"), nil, http.StatusBadRequest},
		} {
			if resp, body := post(c.f, c.hdr...); resp.StatusCode != c.status {
				t.Errorf("refused edit: %d, want %d\n%s", resp.StatusCode, c.status, body)
			}
		}
		if u, _ := s.Store.GetUser(context.Background(), bob.UID); u.Email != bob.Email || u.Role != bob.Role || u.FirstName != bob.FirstName {
			t.Fatalf("a refused edit changed bob: %+v", u)
		}
		if resp, body := post(form("robert@example.com", "PROJECT_MANAGER")); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("edit: %d\n%s", resp.StatusCode, body)
		}
		u, _ := s.Store.GetUser(context.Background(), bob.UID)
		if u.Email != "robert@example.com" || u.FirstName != "Robert" || u.LastName != "Builder" || u.Role != store.RoleProjectManager {
			t.Fatalf("after the edit: %+v", u)
		}
		if got := rcAudit(t, s, audit.UserEdited, bob.UID); len(got) != 1 || got[0].Details["fields"] != "first_name,last_name,email" || got[0].ActorUID == "" {
			t.Errorf("user.edited events: %+v", got)
		}
		if got := rcAudit(t, s, audit.UserRoleChanged, bob.UID); len(got) != 1 {
			t.Errorf("user.role_changed events: %+v", got)
		}
		// Not the admin's own record (the profile page is for that), and
		// not for a linguist.
		adminUser, _ := s.Store.GetUserByUserName(context.Background(), "admin")
		if resp, _ := admin.do(t, http.MethodGet, "/settings/users/"+adminUser.UID+"/edit", nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("editing oneself: %d, want 400", resp.StatusCode)
		}
		lin := newBrowser(s)
		lin.signIn(t, "carl", alicePassword)
		if resp, _ := lin.do(t, http.MethodGet, "/settings/users/"+bob.UID+"/edit", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a linguist's Edit page: %d, want 403", resp.StatusCode)
		}
		if resp, _ := admin.do(t, http.MethodGet, "/settings/users/no-such-user/edit", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("Edit of nobody: %d, want 404", resp.StatusCode)
		}
	})
}

// TestUsersSearchAndPages: the users page shows one page of users at a
// time with Previous and Next, and searches by user name or email.
func TestUsersSearchAndPages(t *testing.T) {
	rcBackends(t, func(t *testing.T, pg bool) {
		s := tolktest.New(t, tolktest.Options{Postgres: pg})
		n := identity.UsersPageSize + 10
		for i := range n {
			s.Clock.Advance(time.Second) // the list is oldest first
			s.Tolk.Identity.CreateUser(context.Background(), identity.NewUser{UserName: fmt.Sprintf("user-%03d", i),
				Email: fmt.Sprintf("u%03d@corp.example", i), Role: store.RoleGuest, Password: alicePassword})
		}
		admin := newBrowser(s)
		admin.signIn(t, "admin", tolktest.AdminPassword)
		rows := func(path string) ([]string, string) {
			resp, body := admin.do(t, http.MethodGet, path, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			var out []string
			for _, m := range ueRowRE.FindAllStringSubmatch(body, -1) {
				out = append(out, strings.TrimSpace(m[1]))
			}
			return out, body
		}
		first, body := rows("/settings/users")
		if len(first) != identity.UsersPageSize || first[0] != "admin" || !strings.Contains(body, `rel="next"`) || strings.Contains(body, `rel="prev"`) ||
			!strings.Contains(body, "Page 1 of 2") || !strings.Contains(body, `<label for="q">Search by username or email</label>`) {
			t.Fatalf("first page: %d rows from %q\n%s", len(first), first[0], body)
		}
		second, body := rows("/settings/users?page=2")
		if len(second) != n+1-identity.UsersPageSize || second[len(second)-1] != fmt.Sprintf("user-%03d", n-1) ||
			!strings.Contains(body, `rel="prev"`) || strings.Contains(body, `rel="next"`) {
			t.Fatalf("second page: %v", second)
		}
		found, body := rows("/settings/users?q=USER-01")
		if len(found) != 10 || found[0] != "user-010" || !strings.Contains(body, `value="USER-01"`) {
			t.Fatalf("search USER-01: %v", found)
		}
		if found, _ := rows("/settings/users?q=u059%40corp"); len(found) != 1 || found[0] != "user-059" {
			t.Fatalf("search by email: %v", found)
		}
		if found, _ := rows("/settings/users?q=%25"); len(found) != 0 {
			t.Fatalf("search %%: %v", found)
		}
		if found, _ := rows("/settings/users?q=%00%ff&page=-3"); len(found) != 0 {
			t.Fatalf("odd bytes: %v", found)
		}
	})
}
