package cli_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// backends returns a fresh database of each backend.
func backends(t *testing.T) map[string]func() string {
	return map[string]func() string{
		"sqlite":   func() string { return "sqlite:" + filepath.Join(t.TempDir(), "u.db") },
		"postgres": func() string { return pgtest.NewDatabase(t) },
	}
}

// tmsLogin posts a TMS login to a served tolk and returns the status and
// the ApiToken.
func tmsLogin(t *testing.T, addr, user, pw string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/api2/v1/auth/login", "application/json",
		strings.NewReader(fmt.Sprintf(`{"userName":%q,"password":%q}`, user, pw)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out.Token
}

func whoAmI(t *testing.T, addr, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api2/v1/auth/whoAmI", nil)
	req.Header.Set("Authorization", "ApiToken "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestUserPasswd: `tolk user passwd` sets a password under the policy and
// ends the user's ApiTokens (and web sessions); the old password stops
// working, the new one works. A refused password changes nothing.
func TestUserPasswd(t *testing.T) {
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password-long", "TOLK_SECRET_KEY": strings.Repeat("k", 40)}
	for name, newDB := range backends(t) {
		t.Run(name, func(t *testing.T) {
			db := newDB()
			if r := run(t, env, "first-password-ibis\n", "user", "create", "--db", db, "--username", "ida", "--email", "ida@example.com", "--password-stdin"); r.code != 0 {
				t.Fatalf("create: %+v", r)
			}
			addr := serve(t, env, db)
			st, token := tmsLogin(t, addr, "ida", "first-password-ibis")
			if st != http.StatusOK || whoAmI(t, addr, token) != http.StatusOK {
				t.Fatalf("login before: %d", st)
			}
			for _, c := range []struct{ pw, want string }{
				{"short\n", "at least 12 characters"},
				{"ida\n", "at least 12 characters"},
				{"password1234\n", "common passwords"},
				{"ida@example.com\n", "email address"},
			} {
				r := run(t, env, c.pw, "user", "passwd", "--db", db, "--username", "ida", "--password-stdin")
				if r.code == 0 || !strings.Contains(r.stderr, c.want) {
					t.Errorf("passwd %q: exit %d, stderr %q; want a refusal mentioning %q", c.pw, r.code, r.stderr, c.want)
				}
			}
			if whoAmI(t, addr, token) != http.StatusOK {
				t.Fatal("a refused password ended the ApiToken")
			}
			if r := run(t, env, "x\n", "user", "passwd", "--db", db, "--username", "nobody", "--password-stdin"); r.code == 0 || !strings.Contains(r.stderr, "not found") {
				t.Errorf("passwd of nobody: %+v", r)
			}
			r := run(t, env, "second-password-kudu\n", "user", "passwd", "--db", db, "--username", "IDA", "--password-stdin")
			if r.code != 0 || strings.Contains(r.stdout, "second-password") || strings.Contains(r.stdout, "argon2") {
				t.Fatalf("passwd: %+v", r)
			}
			if st := whoAmI(t, addr, token); st != http.StatusUnauthorized {
				t.Errorf("ApiToken after passwd: %d, want 401", st)
			}
			if st, _ := tmsLogin(t, addr, "ida", "first-password-ibis"); st != http.StatusUnauthorized {
				t.Errorf("old password after passwd: %d, want 401", st)
			}
			if st, _ := tmsLogin(t, addr, "ida", "second-password-kudu"); st != http.StatusOK {
				t.Errorf("new password after passwd: %d, want 200", st)
			}
		})
	}
}

// TestUserUpdate: `tolk user update` changes email, names and role, and
// --active=false ends the user's sessions and credentials at once;
// --active=true lets the user sign in again.
func TestUserUpdate(t *testing.T) {
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password-long", "TOLK_SECRET_KEY": strings.Repeat("k", 40)}
	for name, newDB := range backends(t) {
		t.Run(name, func(t *testing.T) {
			db := newDB()
			for _, u := range []string{"uma", "ulf"} {
				if r := run(t, env, "password-of-"+u+"-long\n", "user", "create", "--db", db, "--username", u, "--email", u+"@example.com", "--password-stdin"); r.code != 0 {
					t.Fatalf("create: %+v", r)
				}
			}
			r := run(t, env, "", "user", "update", "--db", db, "--username", "uma", "--email", "uma@new.example",
				"--first-name", "Uma", "--last-name", "Thurman", "--role", "project_manager")
			var u map[string]any
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &u) != nil {
				t.Fatalf("update: %+v", r)
			}
			if u["email"] != "uma@new.example" || u["firstName"] != "Uma" || u["lastName"] != "Thurman" || u["role"] != "PROJECT_MANAGER" || u["active"] != true {
				t.Fatalf("updated user: %v", u)
			}
			// Only what is given changes.
			r = run(t, env, "", "user", "update", "--db", db, "--username", "uma", "--last-name", "")
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &u) != nil || u["lastName"] != "" || u["firstName"] != "Uma" || u["email"] != "uma@new.example" {
				t.Fatalf("update of one field: %+v", r)
			}
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"--username", "uma", "--email", "ulf@example.com"}, "taken"},
				{[]string{"--username", "uma", "--email", "not an address"}, "email"},
				{[]string{"--username", "uma", "--role", "ROOT"}, "role"},
				{[]string{"--username", "nobody", "--first-name", "X"}, "not found"},
			} {
				r := run(t, env, "", append([]string{"user", "update", "--db", db}, c.args...)...)
				if r.code == 0 || !strings.Contains(r.stderr, c.want) {
					t.Errorf("update %v: exit %d, stderr %q; want %q", c.args, r.code, r.stderr, c.want)
				}
			}

			addr := serve(t, env, db)
			st, token := tmsLogin(t, addr, "uma", "password-of-uma-long")
			if st != http.StatusOK {
				t.Fatalf("login: %d", st)
			}
			r = run(t, env, "", "user", "update", "--db", db, "--username", "uma", "--active=false")
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &u) != nil || u["active"] != false {
				t.Fatalf("deactivate: %+v", r)
			}
			if st := whoAmI(t, addr, token); st != http.StatusUnauthorized {
				t.Errorf("ApiToken after --active=false: %d, want 401", st)
			}
			if st, _ := tmsLogin(t, addr, "uma", "password-of-uma-long"); st != http.StatusUnauthorized {
				t.Errorf("login after --active=false: %d, want 401", st)
			}
			if r := run(t, env, "", "user", "update", "--db", db, "--username", "uma", "--active=true"); r.code != 0 {
				t.Fatalf("reactivate: %+v", r)
			}
			if st, _ := tmsLogin(t, addr, "uma", "password-of-uma-long"); st != http.StatusOK {
				t.Errorf("login after --active=true: %d, want 200", st)
			}
		})
	}
}
