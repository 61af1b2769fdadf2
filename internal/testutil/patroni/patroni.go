// Package patroni gives a test its own highly available PostgreSQL: two
// PostgreSQL 15 nodes under Patroni with synchronous replication
// (synchronous_mode) and a single-node etcd as Patroni's store, all on
// loopback ports in a temporary directory, killed and removed when the
// test ends.
//
// It needs Debian's patroni, etcd-server and etcd-client packages and the
// PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin, or
// TOLK_TEST_PG_BIN). When something is missing, tests are skipped locally
// but fail under CI=true, so CI never passes by silently testing nothing.
// PostgreSQL refuses to run as root, so when the test runs as root (CI) every
// process runs as the postgres OS user.
package patroni

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallCommand is how CI and developers get what the cluster needs.
const InstallCommand = "apt-get install patroni etcd-server etcd-client postgresql-15"

// DefaultBinDir holds Debian's PostgreSQL 15 server binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// Timeouts of the waits. Patroni runs its loop every second here
// (loop_wait), so a failover takes a few; the bounds are generous for a
// busy two-core CI machine.
const (
	startTimeout = 90 * time.Second
	waitTimeout  = 60 * time.Second
)

// Cluster is a running Patroni cluster of two nodes.
type Cluster struct {
	// Ports are the nodes' PostgreSQL ports on 127.0.0.1, node 0 first.
	Ports [2]int

	dir      string
	restPort [2]int
	cred     *syscall.Credential // nil when the test is not root

	mu      sync.Mutex
	procs   []*exec.Cmd // etcd and the two patronis, each leading its own process group
	stopped bool
}

// Start boots etcd and both nodes, waits until one is the primary with the
// other as its synchronous standby, and creates the database "tolk". The
// cluster is stopped in t.Cleanup.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bins := need(t)
	c := &Cluster{}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the cluster needs the postgres OS user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parents are root's 0700 directories, which the
	// postgres user cannot enter.
	dir, err := os.MkdirTemp("", "tolk-patroni-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(c.Stop)
	if c.cred != nil {
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}

	ports := freePorts(t, 6)
	c.Ports = [2]int{ports[0], ports[1]}
	c.restPort = [2]int{ports[2], ports[3]}
	etcdClient, etcdPeer := ports[4], ports[5]

	c.spawn(t, "etcd", bins.etcd,
		"--name", "e0",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
		"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-cluster", fmt.Sprintf("e0=http://127.0.0.1:%d", etcdPeer),
	)
	c.waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/health", etcdClient), startTimeout)

	for i := range 2 {
		conf := filepath.Join(dir, fmt.Sprintf("node%d.yml", i))
		c.writeFile(t, conf, c.config(i, etcdClient, bins.pg))
		c.spawn(t, fmt.Sprintf("node%d", i), bins.patroni, conf)
		if i == 0 {
			// The first node bootstraps the cluster; the second then
			// copies it with pg_basebackup.
			c.WaitPrimary(t, -1)
		}
	}
	c.WaitSynchronous(t)
	db := c.connect(t, c.primary(), "postgres")
	defer db.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := db.Exec(ctx, "CREATE DATABASE tolk"); err != nil {
		t.Fatalf("creating database tolk: %v\n%s", err, c.Logs())
	}
	return c
}

type binaries struct{ patroni, etcd, pg string }

// need finds what the cluster runs, or skips (fails under CI=true).
func need(t testing.TB) binaries {
	t.Helper()
	var b binaries
	var missing []string
	for _, p := range []struct {
		name string
		to   *string
	}{{"patroni", &b.patroni}, {"etcd", &b.etcd}} {
		path, err := exec.LookPath(p.name)
		if err != nil {
			missing = append(missing, p.name)
		}
		*p.to = path
	}
	b.pg = os.Getenv("TOLK_TEST_PG_BIN")
	if b.pg == "" {
		b.pg = DefaultBinDir
	}
	for _, name := range []string{"postgres", "initdb", "pg_basebackup", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(b.pg, name)); err != nil {
			missing = append(missing, filepath.Join(b.pg, name))
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("Patroni cluster needs %s (%s)", strings.Join(missing, ", "), InstallCommand)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: required under CI=true", msg)
		}
		t.Skip(msg)
	}
	return b
}

// config is node i's Patroni configuration. Failover is immediate after a
// crash of the primary's PostgreSQL (primary_start_timeout 0: fail over to
// the synchronous standby rather than restart the primary in place, which
// is what an HA set-up wants and what the tests exercise), and Patroni
// checks every second (loop_wait 1).
func (c *Cluster) config(i, etcdClient int, pgBin string) string {
	return fmt.Sprintf(`scope: tolk-test
name: node%[1]d
log:
  level: INFO
restapi:
  listen: 127.0.0.1:%[2]d
  connect_address: 127.0.0.1:%[2]d
etcd3:
  hosts: 127.0.0.1:%[3]d
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 1
    retry_timeout: 5
    primary_start_timeout: 0
    synchronous_mode: true
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 5
        max_replication_slots: 5
        max_connections: 100
  initdb:
    - encoding: UTF8
    - auth-local: trust
    - auth-host: trust
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:%[4]d
  connect_address: 127.0.0.1:%[4]d
  data_dir: %[5]s/pg%[1]d
  bin_dir: %[6]s
  pgpass: %[5]s/pgpass%[1]d
  authentication:
    replication:
      username: replicator
      password: replicator
    superuser:
      username: postgres
      password: postgres
  parameters:
    unix_socket_directories: %[5]s
    shared_buffers: 32MB
    fsync: "on"
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
`, i, c.restPort[i], etcdClient, c.Ports[i], c.dir, pgBin)
}

func (c *Cluster) writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.cred != nil {
		if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
}

// spawn starts a process in its own process group, logging to
// dir/name.log, as the postgres user when the test is root.
func (c *Cluster) spawn(t testing.TB, name, bin string, args ...string) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(c.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = log, log
	// A clean environment: the test's PG* variables must not leak in.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + c.dir, "LANG=C.UTF-8", "LC_ALL=C.UTF-8"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred, Pdeathsig: syscall.SIGKILL}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		t.Fatal("patroni: cluster already stopped")
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("patroni: starting %s: %v", name, err)
	}
	c.procs = append(c.procs, cmd)
	go cmd.Wait() //nolint:errcheck // reaps it; Stop kills by group
}

// Logs returns the tail of every process's log, for failure messages.
func (c *Cluster) Logs() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
	pgLogs, _ := filepath.Glob(filepath.Join(c.dir, "pg*", "log", "*"))
	for _, f := range append(files, pgLogs...) {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), data)
	}
	return b.String()
}

// DSN is a multi-host URL naming both nodes that connects only to the
// primary (target_session_attrs=read-write), as tolk is given it.
func (c *Cluster) DSN(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable&target_session_attrs=read-write",
		c.Ports[0], c.Ports[1], database)
}

// NodeDSN connects to node i only.
func (c *Cluster) NodeDSN(i int, database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Ports[i], database)
}

// is asks node i's Patroni REST API whether it is the primary (GET
// /primary answers 200 only there) or the synchronous standby (GET /sync).
func (c *Cluster) is(i int, role string) bool {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/%s", c.restPort[i], role))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// primary returns the node Patroni says leads, or -1.
func (c *Cluster) primary() int {
	for i := range 2 {
		if c.is(i, "primary") {
			return i
		}
	}
	return -1
}

// WaitPrimary waits until a node other than not (-1: any) is the primary
// and takes writes, and returns its index.
func (c *Cluster) WaitPrimary(t testing.TB, not int) int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if i := c.primary(); i >= 0 && i != not && c.writable(i) {
			return i
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("patroni: no primary (other than node %d) within %s\n%s", not, waitTimeout, c.Logs())
	return -1
}

// WaitSynchronous waits until the primary's standby is synchronous: the
// primary then names it in synchronous_standby_names and a commit waits
// for it.
func (c *Cluster) WaitSynchronous(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		p := c.primary()
		if p >= 0 && c.is(1-p, "sync") && c.syncState(p) == "sync" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("patroni: no synchronous standby within %s\n%s", waitTimeout, c.Logs())
}

// writable reports whether node i accepts a read-write session.
func (c *Cluster) writable(i int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.NodeDSN(i, "postgres")+"&target_session_attrs=read-write")
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}

// syncState is the sync_state of the primary i's standby in
// pg_stat_replication ("" if none).
func (c *Cluster) syncState(i int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.NodeDSN(i, "postgres"))
	if err != nil {
		return ""
	}
	defer conn.Close(ctx)
	var s string
	_ = conn.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication LIMIT 1").Scan(&s)
	return s
}

func (c *Cluster) connect(t testing.TB, i int, database string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.NodeDSN(i, database))
	if err != nil {
		t.Fatalf("patroni: connecting to node %d: %v\n%s", i, err, c.Logs())
	}
	return conn
}

// postmaster is the PID in node i's postmaster.pid, or 0.
func (c *Cluster) postmaster(i int) int {
	data, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("pg%d", i), "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]))
	return pid
}

// KillPrimaryPostmaster sends SIGKILL to the primary's postmaster (its
// backends end when they notice) and returns the primary's index. Patroni
// itself lives on and fails over to the synchronous standby.
func (c *Cluster) KillPrimaryPostmaster(t testing.TB) int {
	t.Helper()
	p := c.primary()
	if p < 0 {
		t.Fatalf("patroni: no primary to kill\n%s", c.Logs())
	}
	pid := c.postmaster(p)
	if pid <= 0 {
		t.Fatalf("patroni: node %d has no postmaster.pid", p)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("patroni: killing node %d's postmaster %d: %v", p, pid, err)
	}
	return p
}

// Stop kills every process of the cluster and removes its directory. It
// is idempotent and registered with t.Cleanup by Start.
func (c *Cluster) Stop() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	procs := c.procs
	c.mu.Unlock()
	// Patroni first, so that it restarts nothing; then the postmasters,
	// which Patroni started in sessions of their own (their backends end
	// when they see the postmaster gone); etcd last.
	for i := len(procs) - 1; i >= 0; i-- {
		if p := procs[i].Process; p != nil {
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
		if i == 1 { // procs[0] is etcd
			c.killPostmasters()
		}
	}
	if len(procs) < 2 {
		c.killPostmasters()
	}
	_ = os.RemoveAll(c.dir)
}

// killPostmasters kills both nodes' postmasters and waits (bounded) until
// they are gone.
func (c *Cluster) killPostmasters() {
	var pids []int
	for i := range 2 {
		if pid := c.postmaster(i); pid > 0 && postgresProcess(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			pids = append(pids, pid)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for postgresProcess(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// postgresProcess reports whether pid is a live postgres process, so that a
// stale postmaster.pid never makes Stop kill a stranger.
func postgresProcess(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		// A zombie (state Z) is gone but for its parent's wait.
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			return false
		}
	}
	return strings.TrimSpace(string(comm)) == "postgres"
}

// waitHTTP waits until url answers 200.
func (c *Cluster) waitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	client := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("patroni: %s did not answer within %s\n%s", url, timeout, c.Logs())
}

// freePorts returns n distinct free loopback ports (held open together
// while they are picked, so that they differ).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
