package phrasego_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tolk is one `tolk serve` on a loopback port with its own SQLite database.
type tolk struct {
	URL string // base URL, no trailing slash
}

// adminPassword is the bootstrap admin's password of every test server.
const adminPassword = "phrasego-admin-password-1"

// user is an account the tests sign in with.
type user struct {
	Name, Email, First, Last, Password string
}

// buildTolk builds the tolk binary of the enclosing module into dir.
func buildTolk(t *testing.T, dir string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.HasPrefix(mod, []byte("module github.com/tolk-project/tolk\n")) {
		t.Fatalf("%s is not tolk's module root (go.mod: %v); run the tests from interop/phrasego", root, err)
	}
	bin := filepath.Join(dir, "tolk")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/tolk")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building tolk: %v\n%s", err, out)
	}
	return bin
}

// startTolk builds tolk, creates users in a fresh SQLite database and
// serves it on a free loopback port until the test ends.
func startTolk(t *testing.T, users ...user) *tolk {
	t.Helper()
	dir := t.TempDir()
	bin := buildTolk(t, dir)
	db := "sqlite:" + filepath.Join(dir, "tolk.db")
	env := append(os.Environ(), "TOLK_ADMIN_PASSWORD="+adminPassword)
	for _, u := range users {
		cmd := exec.CommandContext(t.Context(), bin, "user", "create", "--db", db,
			"--username", u.Name, "--email", u.Email, "--first-name", u.First, "--last-name", u.Last, "--password-stdin")
		cmd.Env, cmd.Stdin = env, strings.NewReader(u.Password+"\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tolk user create %s: %v\n%s", u.Name, err, out)
		}
	}
	// A port another process takes between our probe and tolk's listen
	// makes tolk exit at once; try another then.
	for attempt := 0; attempt < 5; attempt++ {
		if s, ok := serve(t, bin, db, env, filepath.Join(dir, fmt.Sprintf("serve-%d.log", attempt))); ok {
			return s
		}
	}
	t.Fatal("tolk serve did not start on any of 5 ports")
	return nil
}

// serve starts `tolk serve` and waits until it is ready; ok is false if
// tolk exited first (a busy port). The log is shown when the test fails.
func serve(t *testing.T, bin, db string, env []string, logPath string) (*tolk, bool) {
	t.Helper()
	addr := freePort(t)
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--db", db, "--addr", addr)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("tolk serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	base := "http://" + addr
	probe := &http.Client{Timeout: 2 * time.Second}
	// A bound on the wait, not a measurement: a tolk that never gets
	// ready fails the test with its log instead of hanging it.
	giveUp := time.After(2 * time.Minute)
	for ready := false; !ready; {
		select {
		case err := <-exited:
			t.Logf("tolk serve on %s exited (%v):\n%s", addr, err, readFile(logPath))
			return nil, false
		case <-giveUp:
			stop()
			t.Fatalf("tolk serve on %s not ready:\n%s", addr, readFile(logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := probe.Get(base + "/health/ready"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("tolk serve log:\n%s", readFile(logPath))
		}
	})
	return &tolk{URL: base}, true
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// ---- two-factor enrolment through the web UI, as a user does it ----

var (
	csrfRE     = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	secretRE   = regexp.MustCompile(`<code id="totp_secret"[^>]*>([^<]+)</code>`)
	recoveryRE = regexp.MustCompile(`(?s)<ul id="recovery_codes"[^>]*>(.*?)</ul>`)
	codeRE     = regexp.MustCompile(`<code>([^<]+)</code>`)
)

// enableTwoFactor signs u in on the web UI, enrols an authenticator and
// returns its TOTP secret, the step whose code confirmed it, and the
// recovery codes.
func enableTwoFactor(t *testing.T, s *tolk, u user) (secret string, step int64, recovery []string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(path string) string {
		t.Helper()
		resp, err := c.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b.String())
		}
		return b.String()
	}
	post := func(path string, form url.Values) string {
		t.Helper()
		resp, err := c.PostForm(s.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b.String())
		}
		return b.String()
	}
	find := func(re *regexp.Regexp, page, what string) string {
		t.Helper()
		m := re.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no %s on the page:\n%s", what, page)
		}
		return html.UnescapeString(m[1])
	}
	login := get("/login")
	post("/login", url.Values{"csrf_token": {find(csrfRE, login, "CSRF token")}, "username": {u.Name}, "password": {u.Password}})
	page := get("/settings/two-factor")
	secret = strings.ReplaceAll(find(secretRE, page, "TOTP secret"), " ", "")
	step = time.Now().Unix() / 30
	// The password is sent too: enabling may ask for it, like disabling.
	done := post("/settings/two-factor/enable", url.Values{
		"csrf_token": {find(csrfRE, page, "CSRF token")}, "code": {totp(t, secret, step)}, "password": {u.Password},
	})
	for _, m := range codeRE.FindAllStringSubmatch(find(recoveryRE, done, "recovery codes"), -1) {
		recovery = append(recovery, html.UnescapeString(m[1]))
	}
	if len(recovery) < 5 {
		t.Fatalf("%d recovery codes, want at least 5:\n%s", len(recovery), done)
	}
	return secret, step, recovery
}

// totp is the RFC 6238 code of step (HMAC-SHA-1, 6 digits, 30 s steps:
// what authenticator apps use), written here so that tolk's own
// implementation is not what checks it.
func totp(t *testing.T, secret string, step int64) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		t.Fatalf("TOTP secret %q: %v", secret, err)
	}
	mac := hmac.New(sha1.New, key)
	_ = binary.Write(mac, binary.BigEndian, uint64(step))
	h := mac.Sum(nil)
	off := h[len(h)-1] & 0x0f
	v := binary.BigEndian.Uint32(h[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}

// ctxWith returns the test's context carrying one of the SDK's
// authentication values.
func ctxWith(t *testing.T, key, value any) context.Context {
	return context.WithValue(t.Context(), key, value)
}
