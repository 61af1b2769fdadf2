package cli_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/cli"
	"github.com/tolk-project/tolk/internal/testutil/testcert"
)

type tlsFiles struct {
	ca                     *testcert.CA
	dir, certFile, keyFile string
	caFile                 string // the CA alone, for curl --cacert
	first                  testcert.Leaf
	env                    map[string]string
}

// newTLSFiles writes a CA and a first leaf for 127.0.0.1 into a new folder.
func newTLSFiles(t *testing.T) tlsFiles {
	dir := t.TempDir()
	f := tlsFiles{ca: testcert.NewCA(t), dir: dir, certFile: filepath.Join(dir, "cert.pem"),
		keyFile: filepath.Join(dir, "key.pem"), caFile: filepath.Join(dir, "ca.pem")}
	f.first = f.ca.Leaf(t)
	f.first.Write(t, f.certFile, f.keyFile)
	testcert.WriteFile(t, f.caFile, f.ca.PEM)
	f.env = map[string]string{"TOLK_ADMIN_PASSWORD": "admin-password", "TOLK_TLS_CERT_FILE": f.certFile, "TOLK_TLS_KEY_FILE": f.keyFile}
	return f
}

// serveTLS runs serve in-process with f's pair; SIGHUP is a send on the
// returned channel.
func serveTLS(t *testing.T, f tlsFiles, stderr *syncBuf) (string, chan<- os.Signal) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan int, 1)
	hup := make(chan os.Signal)
	subscribed := false
	p := cheap
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--db", "sqlite:" + filepath.Join(f.dir, "tolk.db"), "--addr", "127.0.0.1:0"}, cli.IO{
			Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: stderr,
			Env: func(k string) string { return f.env[k] }, Params: &p,
			Listen:  func(string) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") },
			Ready:   func(a string) { ready <- a },
			Hangups: func() (<-chan os.Signal, func()) { subscribed = true; return hup, func() {} },
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
	if !subscribed { // Ready comes after the subscription, so this read is ordered
		t.Fatal("serve with TLS did not subscribe to SIGHUP")
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d after cancel: %s", code, stderr.String())
		}
	})
	return addr, hup
}

// trusting is a client that trusts only ca; it speaks HTTP/2 when the
// server offers it.
func trusting(f tlsFiles) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool()}, ForceAttemptHTTP2: true}}
}

// presented is the serial of the certificate a new handshake meets.
func presented(t *testing.T, f tlsFiles, addr string) *big.Int {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{RootCAs: f.ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

// TestServeTLS: with tls_cert_file and tls_key_file, serve answers HTTPS
// (HTTP/2, TLS 1.2 or later) with the pair to clients that trust only its
// CA (Go's and curl), refuses TLS 1.1, and after SIGHUP presents the pair
// the files hold then; a replacement that cannot serve keeps the last good
// pair.
func TestServeTLS(t *testing.T) {
	f := newTLSFiles(t)
	var stderr syncBuf
	addr, hup := serveTLS(t, f, &stderr)
	base := "https://" + addr

	resp, err := trusting(f).Get(base + "/health/alive")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || resp.ProtoMajor != 2 {
		t.Fatalf("Go client: %d, TLS %+v, HTTP/%d: want 200 over HTTP/2 and TLS 1.2+", resp.StatusCode, resp.TLS != nil, resp.ProtoMajor)
	}
	if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(f.first.Cert.SerialNumber) != 0 {
		t.Errorf("served serial %x, want the file's %x", got, f.first.Cert.SerialNumber)
	}
	if !strings.Contains(stderr.String(), "issuer=https://127.0.0.1:") {
		t.Errorf("the default issuer is not https:\n%s", stderr.String())
	}

	if _, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: f.ca.Pool(), MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}
	if _, err := (&http.Client{Timeout: 20 * time.Second}).Get(base + "/health/alive"); err == nil {
		t.Error("a client that does not trust the test CA connected")
	}

	t.Run("curl", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("curl is not installed")
			}
			t.Skip("curl is not installed")
		}
		out, err := exec.Command(curl, "-sS", "--fail", "--max-time", "20", "--cacert", f.caFile, "--http2",
			"-o", "/dev/null", "-w", "%{http_code} %{http_version}", base+"/health/alive").CombinedOutput()
		if err != nil || string(out) != "200 2" {
			t.Errorf("curl --cacert: %v %q, want \"200 2\"", err, out)
		}
		if out, err := exec.Command(curl, "-sS", "--max-time", "20", base+"/health/alive").CombinedOutput(); err == nil {
			t.Errorf("curl without the CA connected: %s", out)
		}
	})

	// A new pair, announced by SIGHUP: the next handshakes present it.
	second := f.ca.Leaf(t)
	second.Write(t, f.certFile, f.keyFile)
	hup <- syscall.SIGHUP
	waitUntil(t, &stderr, "the reloaded certificate", func() bool {
		return presented(t, f, addr).Cmp(second.Cert.SerialNumber) == 0
	})
	if resp, err := trusting(f).Get(base + "/health/alive"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after the reload: %v", err)
	} else {
		resp.Body.Close()
	}

	// A key that does not match: logged, and the second pair stays.
	testcert.WriteFile(t, f.keyFile, f.first.KeyPEM)
	hup <- syscall.SIGHUP
	waitUntil(t, &stderr, "the refusal of the broken pair", func() bool {
		return strings.Contains(stderr.String(), "new certificate not loaded")
	})
	if got := presented(t, f, addr); got.Cmp(second.Cert.SerialNumber) != 0 {
		t.Errorf("after a broken replacement the server presents %x, want the last good %x", got, second.Cert.SerialNumber)
	}
}

// waitUntil polls cond; the deadline only ends a test that would hang.
func waitUntil(t *testing.T, stderr *syncBuf, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s; log:\n%s", what, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeRefusesUnusableTLSPair: a pair that cannot serve is refused at
// start with what is wrong, before the port or the database is touched.
func TestServeRefusesUnusableTLSPair(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(f tlsFiles)
		want  string
	}{
		{"key of another certificate", func(f tlsFiles) {
			other := f.ca.Leaf(t)
			testcert.WriteFile(t, f.keyFile, other.KeyPEM)
		}, "private key does not match public key"},
		{"missing certificate", func(f tlsFiles) { os.Remove(f.certFile) }, "no such file"},
		{"key path is a folder", func(f tlsFiles) { os.Remove(f.keyFile); os.Mkdir(f.keyFile, 0o700) }, "is a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newTLSFiles(t)
			c.spoil(f)
			r := run(t, f.env, "", "serve", "--db", "sqlite:"+filepath.Join(f.dir, "tolk.db"), "--addr", "127.0.0.1:0")
			if r.code == 0 {
				t.Fatalf("serve started: %s", r.stderr)
			}
			if !strings.Contains(r.stderr, "tls_cert_file and tls_key_file") || !strings.Contains(r.stderr, c.want) {
				t.Errorf("unclear message: %s", r.stderr)
			}
			if _, err := os.Stat(filepath.Join(f.dir, "tolk.db")); err == nil {
				t.Error("a database was created")
			}
		})
	}
}
