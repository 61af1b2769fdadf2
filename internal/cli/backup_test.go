package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/cli"
	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// issued is a token tolk answered, and how to ask a server about it.
type issued struct {
	kind  string // client_credentials, ApiToken or PAT
	token string
	late  bool // requested after the backup had ended
}

// loadClient drives tolk with token requests of three kinds (two
// client_credentials workers, one TMS login, one PAT) until stopped, and
// keeps every token it was answered, in the order the answers came.
type loadClient struct {
	addr, clientID, clientSecret string
	http                         *http.Client

	// backedUp is set once the backup has ended: requests sent after
	// that carry late, whatever order their answers are kept in.
	backedUp atomic.Bool

	mu     sync.Mutex
	tokens []issued
	errs   []string
}

// ofEachKind reports whether at least n tokens of each kind were answered.
func (l *loadClient) ofEachKind(n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	kinds := map[string]int{}
	for _, t := range l.tokens {
		kinds[t.kind]++
	}
	return kinds["client_credentials"] >= n && kinds["ApiToken"] >= n && kinds["PAT"] >= n
}

// lateTokens counts the tokens of kind ("" = any) requested after the
// backup had ended.
func (l *loadClient) lateTokens(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, t := range l.tokens {
		if t.late && (kind == "" || t.kind == kind) {
			n++
		}
	}
	return n
}

func (l *loadClient) answered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tokens)
}

// snapshot returns the tokens answered so far.
func (l *loadClient) snapshot() []issued {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]issued(nil), l.tokens...)
}

func (l *loadClient) post(req *http.Request, kind, field string, late bool) {
	resp, err := l.http.Do(req)
	if err != nil {
		if req.Context().Err() == nil {
			l.fail("%s: %v", kind, err)
		}
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		l.fail("%s: %d %s", kind, resp.StatusCode, b)
		return
	}
	var out map[string]any
	var tok string
	if err := json.Unmarshal(b, &out); err == nil {
		tok, _ = out[field].(string)
	}
	if tok == "" {
		l.fail("%s: no %s in %s", kind, field, b)
		return
	}
	l.mu.Lock()
	l.tokens = append(l.tokens, issued{kind, tok, late})
	l.mu.Unlock()
}

func (l *loadClient) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
}

// run sends one kind of request in a loop until ctx ends.
func (l *loadClient) run(ctx context.Context, kind string) {
	base := "http://" + l.addr
	for ctx.Err() == nil {
		late := l.backedUp.Load()
		var req *http.Request
		switch kind {
		case "client_credentials":
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {l.clientID}, "client_secret": {l.clientSecret}}
			req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			l.post(req, kind, "access_token", late)
		case "ApiToken":
			req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/api2/v1/auth/login",
				strings.NewReader(`{"userName":"admin","password":"admin-password"}`))
			req.Header.Set("Content-Type", "application/json")
			l.post(req, kind, "token", late)
		case "PAT":
			req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/authorizations",
				strings.NewReader(`{"note":"backup test"}`))
			req.Header.Set("Content-Type", "application/json")
			req.SetBasicAuth("admin", "admin-password")
			l.post(req, kind, "token", late)
		}
	}
}

// accepted asks the server at addr whether it accepts tok: introspection
// for an access token (as the app that got it), whoAmI for an ApiToken,
// GET /v2/user for a PAT.
func (l *loadClient) accepted(t *testing.T, addr string, tok issued) bool {
	t.Helper()
	var req *http.Request
	switch tok.kind {
	case "client_credentials":
		req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/oauth/introspect",
			strings.NewReader(url.Values{"token": {tok.token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(l.clientID, l.clientSecret)
	case "ApiToken":
		req, _ = http.NewRequest(http.MethodGet, "http://"+addr+"/api2/v1/auth/whoAmI", nil)
		req.Header.Set("Authorization", "ApiToken "+tok.token)
	case "PAT":
		req, _ = http.NewRequest(http.MethodGet, "http://"+addr+"/v2/user", nil)
		req.Header.Set("Authorization", "token "+tok.token)
	}
	resp, err := l.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if tok.kind != "client_credentials" {
		return resp.StatusCode == http.StatusOK
	}
	var out struct{ Active bool }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil {
		t.Fatalf("introspection: %d %s", resp.StatusCode, b)
	}
	return out.Active
}

// TestBackupUnderLoad: `tolk backup` copies a live SQLite database while
// the server answers token requests of three dialects without pause, and a
// server started from the copy (database and key, nothing else) accepts
// every token answered before the backup began. A token stored when it is
// answered (ApiToken, PAT) after the backup finished is not in the copy:
// it is a snapshot, not the live file. A sealed access token needs no
// row, so the copy accepts it whenever it was issued, until it expires
// (docs/operations.md, "Backup and restore").
func TestBackupUnderLoad(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "live.db")
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password", "TOLK_CLIENT_REQUEST_BURST": "1000000"}
	r := run(t, env, "", "client", "create", "--name", "load", "--grant", "client_credentials", "--db", db)
	var app struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &app); r.code != 0 || err != nil || app.ClientSecret == "" {
		t.Fatalf("client create: %+v (%v)", r, err)
	}
	var live syncBuf
	addr := serveWith(t, env, db, &live)
	l := &loadClient{addr: addr, clientID: app.ClientID, clientSecret: app.ClientSecret,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}

	// Bounded: the load stops when the test is done with it, or after a
	// minute whatever happens.
	ctx, stop := context.WithTimeout(t.Context(), time.Minute)
	defer stop()
	var wg sync.WaitGroup
	for _, kind := range []string{"client_credentials", "client_credentials", "ApiToken", "PAT"} {
		wg.Go(func() { l.run(ctx, kind) })
	}
	waitFor := func(what string, done func() bool) {
		t.Helper()
		for !done() {
			if ctx.Err() != nil {
				t.Fatalf("%s: %d tokens answered before the time ran out; errors: %v", what, l.answered(), l.errs)
			}
			time.Sleep(5 * time.Millisecond) // polling the counter of a running load
		}
	}

	waitFor("before the backup", func() bool { return l.answered() >= 200 && l.ofEachKind(3) })
	before := l.snapshot() // each of these was answered before the backup starts
	out := filepath.Join(dir, "backup")
	r = run(t, env, "", "backup", "--db", db, "--out", out)
	during := l.answered() - len(before)
	if r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	after := l.answered()
	l.backedUp.Store(true)
	waitFor("after the backup", func() bool {
		return l.lateTokens("") >= 20 && l.lateTokens("ApiToken") >= 3 && l.lateTokens("PAT") >= 3
	})
	stop()
	wg.Wait()
	if len(l.errs) > 0 {
		t.Fatalf("the load met errors: %v", l.errs)
	}
	all := l.snapshot()
	t.Logf("%d tokens answered before the backup, %d while it ran, %d after (%d requested after it)",
		len(before), during, len(all)-after, l.lateTokens(""))
	if !strings.Contains(r.stdout, filepath.Join(out, "tolk.db")) || !strings.Contains(r.stdout, filepath.Join(out, "tolk.db.key")) {
		t.Errorf("backup does not say what it wrote: %s", r.stdout)
	}

	checkBackupFiles(t, out, "tolk.db", "tolk.db.key")
	var restored syncBuf
	raddr := serveWith(t, env, "sqlite:"+filepath.Join(out, "tolk.db"), &restored)
	kinds := map[string]int{}
	for _, tok := range before {
		if !l.accepted(t, raddr, tok) {
			t.Errorf("the restored server refuses a %s answered before the backup", tok.kind)
		}
		kinds[tok.kind]++
	}
	for _, k := range []string{"client_credentials", "ApiToken", "PAT"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the tokens answered before the backup: %v", k, kinds)
		}
	}
	for _, tok := range all {
		if !tok.late {
			continue
		}
		sealed := tok.kind == "client_credentials"
		if got := l.accepted(t, raddr, tok); got != sealed {
			t.Errorf("the restored server accepts a %s answered after the backup: %v, want %v", tok.kind, got, sealed)
		}
		if !l.accepted(t, addr, tok) {
			t.Errorf("the live server refuses a %s it answered", tok.kind)
		}
	}
	if strings.Contains(restored.String(), "with password") {
		t.Errorf("the restored server created a new admin: %s", restored.String())
	}
}

// checkBackupFiles: the backup directory is its owner's only and holds
// exactly the files named, each its owner's only.
func checkBackupFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("%s has mode %04o, want 0700", dir, fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// TestBackupRefuses: --out must be a new or empty directory (no earlier
// backup is overwritten, nothing is written beside a file), the database
// must exist (no empty one is created), a database whose key file is
// missing is not copied without --without-key, and PostgreSQL is pointed to
// pg_dump and its secret_key. Nothing is left behind by a refusal.
func TestBackupRefuses(t *testing.T) {
	env := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	dir := t.TempDir()
	db := filepath.Join(dir, "tolk.db")
	if r := run(t, env, "", "keys", "list", "--db", "sqlite:"+db); r.code != 0 { // creates the database and its keys
		t.Fatalf("keys list: %+v", r)
	}
	full := filepath.Join(dir, "full")
	if err := os.Mkdir(full, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "old"), []byte("an earlier backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	noKey := filepath.Join(dir, "nokey.db")
	if r := run(t, env, "", "keys", "list", "--db", "sqlite:"+noKey); r.code != 0 {
		t.Fatalf("keys list: %+v", r)
	}
	if err := os.Remove(noKey + ".key"); err != nil {
		t.Fatal(err)
	}
	// An empty directory others may write to, or a link to an empty
	// directory: another user could swap the copy's temporary file for a
	// link to a file of theirs.
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(private, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, db, out string
		want          []string
	}{
		{"non-empty directory", db, full, []string{full, "is not empty", "old"}},
		{"directory others may write to", db, shared, []string{shared, "may be written by other users"}},
		{"symbolic link", db, link, []string{link, "symbolic link"}},
		{"file", db, file, []string{file, "not a directory"}},
		{"missing database", filepath.Join(dir, "missing.db"), filepath.Join(dir, "b1"), []string{"missing.db", "no such database file"}},
		{"missing key file", noKey, filepath.Join(dir, "b2"), []string{noKey + ".key does not exist", "secret_key", "--without-key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := os.ReadDir(dir)
			r := run(t, env, "", "backup", "--db", "sqlite:"+c.db, "--out", c.out)
			if r.code == 0 {
				t.Fatalf("backup succeeded: %+v", r)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("the message does not say %q: %s", w, r.stderr)
				}
			}
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) {
				t.Errorf("files before %v, after %v", before, after)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(full, "old")); err != nil || string(b) != "an earlier backup" {
		t.Errorf("the earlier backup changed: %q %v", b, err)
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("files written into the non-empty directory: %v", entries)
	}
	for _, d := range []string{shared, private} {
		if entries, _ := os.ReadDir(d); len(entries) != 0 {
			t.Errorf("files written into %s: %v", d, entries)
		}
	}

	t.Run("postgres", func(t *testing.T) {
		pg := pgtest.NewDatabase(t)
		penv := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password", "TOLK_SECRET_KEY": strings.Repeat("k", 40)}
		out := filepath.Join(t.TempDir(), "b")
		r := run(t, penv, "", "backup", "--db", pg, "--out", out)
		if r.code == 0 {
			t.Fatalf("backup of PostgreSQL succeeded: %+v", r)
		}
		for _, w := range []string{"pg_dump", "secret_key", "docs/operations.md"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("the message does not say %q: %s", w, r.stderr)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s was created", out)
		}
	})
}

// TestBackupKeyHandling: with secret_key the backup's key file holds that
// key (so the copy serves without it, and with it alike); --without-key
// writes the database alone, which then refuses to start without its key.
func TestBackupKeyHandling(t *testing.T) {
	secretKey := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 33))) // valid base64: used raw, not decoded
	withKey := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password", "TOLK_SECRET_KEY": secretKey}
	noKey := map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password"}
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "live.db")
	addr := serve(t, withKey, db)
	code, tok := tmsLogin(t, addr, "admin", "admin-password")
	if code != 200 {
		t.Fatalf("login: %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "live.db.key")); err == nil {
		t.Fatal("a key file was created although secret_key is set")
	}

	out := filepath.Join(dir, "with-key")
	if r := run(t, withKey, "", "backup", "--db", db, "--out", out); r.code != 0 || !strings.Contains(r.stdout, "from secret_key") {
		t.Fatalf("backup: %+v", r)
	}
	checkBackupFiles(t, out, "tolk.db", "tolk.db.key")
	for name, env := range map[string]map[string]string{"without secret_key": noKey, "with secret_key": withKey} {
		t.Run(name, func(t *testing.T) {
			var stderr syncBuf
			raddr := serveWith(t, env, "sqlite:"+filepath.Join(out, "tolk.db"), &stderr)
			if c := whoAmI(t, raddr, tok); c != 200 {
				t.Errorf("whoAmI on the copy: %d", c)
			}
		})
	}

	bare := filepath.Join(dir, "without-key")
	r := run(t, withKey, "", "backup", "--db", db, "--out", bare, "--without-key")
	if r.code != 0 || !strings.Contains(r.stdout, "secret_key") {
		t.Fatalf("backup --without-key: %+v", r)
	}
	checkBackupFiles(t, bare, "tolk.db")
	r = runBounded(t, noKey, "serve", "--db", "sqlite:"+filepath.Join(bare, "tolk.db"), "--addr", "127.0.0.1:0")
	if r.code == 0 || !strings.Contains(r.stderr, "restore the key file") {
		t.Errorf("the copy without its key: %+v", r)
	}
}

// runBounded is run for a command that should fail at once, such as serve
// refusing to start: if it runs instead, it is stopped after 30 seconds
// (and reports exit 0, failing the test) rather than hanging it.
func runBounded(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	p := cheap
	code := cli.Run(ctx, args, cli.IO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Env: func(k string) string { return env[k] }, Params: &p,
	})
	return result{code, out.String(), errb.String()}
}
