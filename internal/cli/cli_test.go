package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/cli"
	"github.com/tolk-project/tolk/internal/kit/password"
)

var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	p := cheap
	code := cli.Run(context.Background(), args, cli.IO{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Env: func(k string) string { return env[k] }, Params: &p,
	})
	return result{code, out.String(), errb.String()}
}

func TestUserCreateAndList(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	// --db after the subcommand, as SPEC allows "anywhere on the command line".
	r := run(t, env, "s3cret-password\n", "user", "create", "--username", "ana", "--email", "ana@example.com",
		"--role", "project_manager", "--first-name", "Ana", "--last-name", "Silva", "--password-stdin", "--db", db)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil {
		t.Fatalf("stdout is not one JSON object: %q", r.stdout)
	}
	if u["userName"] != "ana" || u["role"] != "PROJECT_MANAGER" || u["firstName"] != "Ana" || u["active"] != true {
		t.Fatalf("user: %v", u)
	}
	if _, ok := u["passwordHash"]; ok || strings.Contains(r.stdout, "argon2") || strings.Contains(r.stdout, "s3cret") {
		t.Fatal("the password or its hash is printed")
	}

	r = run(t, env, "", "--db", db, "user", "list")
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 {
		t.Fatalf("list: %d %q %v", r.code, r.stdout, err)
	}
	if len(list) != 2 || list[0]["userName"] != "admin" || list[1]["userName"] != "ana" {
		t.Fatalf("list: %v", list)
	}

	// The trailing newline is not part of the password: the user signs in
	// through serve with exactly "s3cret-password" (checked below via the
	// TMS login of a served instance).
	addr := serve(t, env, db)
	body := `{"userName":"ana","password":"s3cret-password"}`
	resp, err := http.Post("http://"+addr+"/api2/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login with the stdin password: %d", resp.StatusCode)
	}
}

func TestUserCreateErrors(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	cases := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"short password", "short\n", []string{"--username", "x", "--email", "x@example.com", "--password-stdin"}, "password"},
		{"bad role", "pw-long-enough\n", []string{"--username", "x", "--email", "x@example.com", "--role", "ROOT", "--password-stdin"}, "role"},
		{"duplicate admin", "pw-long-enough\n", []string{"--username", "ADMIN", "--email", "x@example.com", "--password-stdin"}, "already taken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, env, tc.stdin, append([]string{"user", "create", "--db", db}, tc.args...)...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want failure mentioning %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestConfigProblemsAreReportedTogether(t *testing.T) {
	r := run(t, map[string]string{"TOLK_LOG_FORMAT": "xml"}, "", "migrate", "--db", "mysql://x", "--issuer", "ftp://x")
	if r.code == 0 {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"db:", "issuer", "log_format"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q lacks %q", r.stderr, want)
		}
	}
}

func TestVersion(t *testing.T) {
	r := run(t, nil, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "tolk ") || !strings.Contains(r.stdout, runtime.Version()) {
		t.Fatalf("%+v", r)
	}
	r = run(t, nil, "", "version", "--json")
	var v struct{ Version, Go string }
	if err := json.Unmarshal([]byte(r.stdout), &v); r.code != 0 || err != nil || v.Version == "" || v.Go != runtime.Version() {
		t.Fatalf("version --json: %+v (%v)", r, err)
	}
}

func TestMigrateDoesNotCreateAdmin(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	r := run(t, nil, "", "migrate", "--db", db)
	if r.code != 0 || strings.Contains(r.stderr, "password") {
		t.Fatalf("%+v", r)
	}
}

func TestServePrintsGeneratedAdminPasswordOnce(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
	var stderr1, stderr2 syncBuf
	addr := serveWith(t, nil, db, &stderr1)
	if !strings.Contains(stderr1.String(), `created user "admin" with password: `) {
		t.Fatalf("no password printed: %s", stderr1.String())
	}
	pw := strings.Fields(strings.SplitN(stderr1.String(), "with password: ", 2)[1])[0]
	resp, err := http.Post("http://"+addr+"/api2/v1/auth/login", "application/json",
		strings.NewReader(fmt.Sprintf(`{"userName":"admin","password":%q}`, pw)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login with printed password: %d", resp.StatusCode)
	}
	serveWith(t, nil, db, &stderr2)
	if strings.Contains(stderr2.String(), "with password") {
		t.Fatal("the password is printed again on the second start")
	}
}

// serve starts `tolk serve` in-process on a free loopback port until the
// test ends, and returns its address.
func serve(t *testing.T, env map[string]string, db string) string {
	var b syncBuf
	return serveWith(t, env, db, &b)
}

func serveWith(t *testing.T, env map[string]string, db string, stderr *syncBuf) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	p := cheap
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--db", db, "--addr", "127.0.0.1:0"}, cli.IO{
			Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: stderr,
			Env: func(k string) string { return env[k] }, Params: &p,
			Listen: func(string) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") },
			Ready:  func(a string) { ready <- a },
		})
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d after cancel: %s", code, stderr.String())
		}
	})
	return addr
}
