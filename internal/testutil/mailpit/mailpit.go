// Package mailpit gives a test its own Mailpit: an SMTP server on a free
// loopback port that keeps every mail it receives and shows them through
// its HTTP API, so a test can send through real SMTP and read what arrived.
//
// The mailpit binary is found on PATH, then in $GOBIN and $GOPATH/bin
// (`go install github.com/axllent/mailpit@v1.33.1`). When it is missing,
// tests are skipped locally but fail under CI=true, so CI never passes by
// silently testing nothing.
package mailpit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"go/build"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// InstallCommand is how CI and developers get the binary.
const InstallCommand = "go install github.com/axllent/mailpit@v1.33.1"

// Options shape the server. The zero value is plain SMTP without
// authentication.
type Options struct {
	// Users are the SMTP accounts (name → password). When set, a mail is
	// accepted only after AUTH as one of them; over plain SMTP the
	// server then offers PLAIN and LOGIN without TLS, which clients allow
	// on loopback only.
	Users map[string]string
	// TLS gives the server a fresh certificate for 127.0.0.1 and localhost
	// (trusted by Server.RootCAs) and offers STARTTLS.
	TLS bool
	// ImplicitTLS speaks TLS from the first byte (smtps://) instead of
	// offering STARTTLS; it implies TLS.
	ImplicitTLS bool
}

// Server is a running Mailpit, stopped when the test ends.
type Server struct {
	SMTPAddr string         // host:port of SMTP
	APIURL   string         // base URL of the HTTP API
	RootCAs  *x509.CertPool // trusts the server's certificate (Options.TLS)
	scheme   string
}

// Start runs a Mailpit for t and waits until it answers.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := find()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mailpit is required under CI=true but was not found on PATH, in $GOBIN or $GOPATH/bin (%s)", InstallCommand)
		}
		t.Skipf("mailpit not found on PATH, in $GOBIN or $GOPATH/bin (%s)", InstallCommand)
	}
	dir := t.TempDir()
	s := &Server{scheme: "smtp"}
	var args []string
	if len(o.Users) > 0 {
		args = append(args, "--smtp-auth-file", writeUsers(t, dir, o.Users))
		if !o.TLS && !o.ImplicitTLS {
			args = append(args, "--smtp-auth-allow-insecure")
		}
	}
	if o.TLS || o.ImplicitTLS {
		cert, key, pool := certificate(t, dir)
		s.RootCAs = pool
		args = append(args, "--smtp-tls-cert", cert, "--smtp-tls-key", key)
		if o.ImplicitTLS {
			s.scheme = "smtps"
			args = append(args, "--smtp-require-tls")
		}
	}
	// Free ports are found by listening and closing, so another process may
	// take one before Mailpit binds it: then try again with new ones.
	var lastErr error
	for try := 0; try < 3; try++ {
		smtpAddr, httpAddr := freeAddr(t), freeAddr(t)
		err := s.run(t, bin, dir, try, append([]string{"--smtp", smtpAddr, "--listen", httpAddr}, args...))
		if err == nil {
			s.SMTPAddr, s.APIURL = smtpAddr, "http://"+httpAddr
			return s
		}
		lastErr = err
	}
	t.Fatalf("mailpit: %v", lastErr)
	return nil
}

// URL is smtp_url for this server: smtps:// with ImplicitTLS, smtp://
// otherwise, with user (may be nil) in it.
func (s *Server) URL(user *url.Userinfo) string {
	return (&url.URL{Scheme: s.scheme, Host: s.SMTPAddr, User: user}).String()
}

func (s *Server) run(t testing.TB, bin, dir string, try int, args []string) error {
	t.Helper()
	args = append(args, "--database", filepath.Join(dir, fmt.Sprintf("mailpit-%d.db", try)),
		"--disable-version-check", "--smtp-disable-rdns")
	cmd := exec.Command(bin, args...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	smtpAddr := args[1]
	httpURL := "http://" + args[3] + "/readyz"
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited at start: %s", out.String())
		default:
		}
		if ready(httpURL, smtpAddr) {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("mailpit output:\n%s", out.String())
				}
			})
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("not ready after 20s: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ready(httpURL, smtpAddr string) bool {
	resp, err := http.Get(httpURL)
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", smtpAddr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func find() string {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, gopath := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(gopath, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "mailpit")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailpit: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeUsers writes an htpasswd file, as Mailpit reads it.
func writeUsers(t testing.TB, dir string, users map[string]string) string {
	t.Helper()
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		h, err := bcrypt.GenerateFromPassword([]byte(users[n]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", n, h)
	}
	p := filepath.Join(dir, "smtp-users")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// certificate writes a self-signed certificate for 127.0.0.1 and
// localhost and returns its files and a pool that trusts it.
func certificate(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailpit test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "smtp.crt"), filepath.Join(dir, "smtp.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// Address is a sender or recipient as the API shows it.
type Address struct {
	Name    string
	Address string
}

// Message is one received mail as the API shows it: Text and HTML are the
// decoded parts, Raw the source as it arrived.
type Message struct {
	ID      string
	From    Address
	To      []Address
	Subject string
	Text    string
	HTML    string
	Raw     string
}

// Messages returns every mail received, oldest first.
func (s *Server) Messages(t testing.TB) []Message {
	t.Helper()
	var list struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	s.get(t, "/api/v1/messages?limit=1000", &list)
	out := make([]Message, 0, len(list.Messages))
	// The API lists the newest first.
	for i := len(list.Messages) - 1; i >= 0; i-- {
		var m Message
		id := url.PathEscape(list.Messages[i].ID)
		s.get(t, "/api/v1/message/"+id, &m)
		m.Raw = string(s.raw(t, "/api/v1/message/"+id+"/raw"))
		out = append(out, m)
	}
	return out
}

// Wait returns the mails received once there are at least n, failing the
// test when they have not come within 15 seconds.
func (s *Server) Wait(t testing.TB, n int) []Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var list struct {
			Total int `json:"total"`
		}
		s.get(t, "/api/v1/messages?limit=1", &list)
		if list.Total >= n {
			return s.Messages(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit: %d mails arrived, want %d", list.Total, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) get(t testing.TB, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(s.raw(t, path), v); err != nil {
		t.Fatalf("mailpit: GET %s: %v", path, err)
	}
}

func (s *Server) raw(t testing.TB, path string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mailpit: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	if err != nil {
		t.Fatalf("mailpit: GET %s: %v: %s", path, err, b)
	}
	return b
}

// lockedBuffer collects the process's output, written and read from
// different goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
