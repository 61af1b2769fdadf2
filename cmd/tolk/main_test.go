package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/testutil/pgtest"
)

// testSecretKey seals signing keys in the PostgreSQL tests, as every
// instance of a cluster must share one.
const testSecretKey = "test-secret-key-0123456789abcdef0123456789"

// binary is the tolk executable built once for these tests: they exercise
// real processes (signals, several instances on one database).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tolk-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "tolk")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building tolk: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs strings.Builder
	done chan error
}

// listening matches the start-up line in text and JSON log formats.
var listening = regexp.MustCompile(`msg"?[=:]"?tolk listening"?,? ?"?addr"?[=:]"?([0-9.:\[\]]+)`)

// start runs `tolk serve` on a free loopback port and waits until it
// listens.
func start(t *testing.T, db string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--db", db)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				addrc <- m[1]
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.addr = <-addrc:
	case err := <-p.done:
		t.Fatalf("tolk exited before listening: %v\n%s", err, p.output())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("tolk did not start:\n%s", p.output())
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return p
}

func (p *proc) output() string { p.mu.Lock(); defer p.mu.Unlock(); return p.logs.String() }

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("tolk exited with %v after SIGTERM:\n%s", err, p.output())
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("tolk did not stop after SIGTERM")
	}
}

func TestServeOnSQLiteAndSIGTERM(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tolk.db")
	p := start(t, db, "TOLK_ADMIN_PASSWORD=first-admin-password", "TOLK_LOG_FORMAT=json")
	resp, err := http.Post("http://"+p.addr+"/api2/v1/auth/login", "application/json",
		strings.NewReader(`{"userName":"admin","password":"first-admin-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	p.stop(t)
	out := p.output()
	if !strings.Contains(out, `"msg":"shutting down"`) {
		t.Errorf("no JSON shutdown log line:\n%s", out)
	}
	if strings.Contains(out, "first-admin-password") {
		t.Error("the configured admin password was logged")
	}
	var tok struct{ Token string }
	_ = json.Unmarshal(body, &tok)
	if tok.Token == "" || strings.Contains(out, tok.Token) {
		t.Error("the ApiToken was logged (or no token was issued)")
	}
}

func TestTwoInstancesOnEmptyPostgresCreateOneAdmin(t *testing.T) {
	db := pgtest.NewDatabase(t)
	// Start both at the same moment on the empty database.
	var wg sync.WaitGroup
	procs := make([]*proc, 2)
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i] = start(t, db, "TOLK_SECRET_KEY="+testSecretKey)
		}()
	}
	wg.Wait()
	printed := 0
	for _, p := range procs {
		if strings.Contains(p.output(), `created user "admin" with password`) {
			printed++
		}
	}
	if printed != 1 {
		t.Fatalf("%d instances created an admin, want exactly 1", printed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "user", "list", "--db", db)
	cmd.Env = append(os.Environ(), "TOLK_SECRET_KEY="+testSecretKey)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var users []map[string]any
	if err := json.Unmarshal(out, &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0]["userName"] != "admin" || users[0]["role"] != "ADMIN" {
		t.Fatalf("users: %v", users)
	}
	for _, p := range procs {
		p.stop(t)
	}
}
