package certreload_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/certreload"
	"github.com/tolk-project/tolk/internal/testutil/testcert"
)

// logBuf collects log lines from the reloader's goroutine.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
func (l *logBuf) reset()                      { l.mu.Lock(); defer l.mu.Unlock(); l.b.Reset() }
func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

type fixture struct {
	ca                *testcert.CA
	certFile, keyFile string
	first             testcert.Leaf
	r                 *certreload.Reloader
	addr              string
	logs              *logBuf
}

// serve writes a first pair, starts a reloader on it and a TLS listener
// that completes every handshake with it.
func serve(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{ca: testcert.NewCA(t), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), logs: &logBuf{}}
	f.first = f.ca.Leaf(t)
	f.first.Write(t, f.certFile, f.keyFile)
	r, err := certreload.New(f.certFile, f.keyFile, certreload.Options{Log: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	f.addr = ln.Addr().String()
	return f
}

// handshake connects as a client that trusts only the test CA.
func (f *fixture) handshake(t *testing.T, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.RootCAs = f.ca.Pool()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	c, err := d.DialContext(context.Background(), "tcp", f.addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

// presented is the serial of the certificate a handshake meets now.
func (f *fixture) presented(t *testing.T) *big.Int {
	t.Helper()
	st, err := f.handshake(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st.PeerCertificates[0].SerialNumber
}

// waitFor polls handshakes until one presents want; no timing is asserted,
// the deadline only ends a test that would otherwise hang.
func (f *fixture) waitFor(t *testing.T, want *x509.Certificate) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for f.presented(t).Cmp(want.SerialNumber) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the handshake still presents the old certificate; logs:\n%s", f.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) run(t *testing.T) (chan time.Time, chan os.Signal) {
	ctx, cancel := context.WithCancel(context.Background())
	tick, hup := make(chan time.Time), make(chan os.Signal)
	done := make(chan struct{})
	go func() { f.r.Run(ctx, tick, hup); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return tick, hup
}

func TestHandshakeTLS12AtLeastAndH2(t *testing.T) {
	f := serve(t)
	st, err := f.handshake(t, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Version < tls.VersionTLS12 || st.NegotiatedProtocol != "h2" {
		t.Errorf("version %x, protocol %q: want TLS 1.2+ and h2", st.Version, st.NegotiatedProtocol)
	}
	if st.PeerCertificates[0].SerialNumber.Cmp(f.first.Cert.SerialNumber) != 0 {
		t.Error("the handshake does not present the certificate of the files")
	}
	st, err = f.handshake(t, &tls.Config{MaxVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	if err != nil || st.Version != tls.VersionTLS12 || st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("a TLS 1.2, HTTP/1.1 client: %v, version %x, protocol %q", err, st.Version, st.NegotiatedProtocol)
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if _, err := f.handshake(t, &tls.Config{MinVersion: v, MaxVersion: v}); err == nil {
			t.Errorf("a handshake at TLS version %x succeeded", v)
		}
	}
}

func TestReloadOnSignal(t *testing.T) {
	f := serve(t)
	_, hup := f.run(t)
	next := f.ca.Leaf(t)
	next.Write(t, f.certFile, f.keyFile)
	if f.presented(t).Cmp(f.first.Cert.SerialNumber) != 0 {
		t.Fatal("the new files were served before a reload was asked for")
	}
	hup <- syscall.SIGHUP
	f.waitFor(t, next.Cert)
	if f.r.Certificate().SerialNumber.Cmp(next.Cert.SerialNumber) != 0 {
		t.Error("Certificate() is not the reloaded leaf")
	}
	if f.logs.count("tls: certificate reloaded") != 1 {
		t.Errorf("want one reload logged:\n%s", f.logs.String())
	}
}

func TestReloadOnFileChange(t *testing.T) {
	f := serve(t)
	tick, _ := f.run(t)
	tick <- time.Now() // unchanged files: nothing happens
	next := f.ca.Leaf(t)
	next.Write(t, f.certFile, f.keyFile)
	tick <- time.Now()
	f.waitFor(t, next.Cert)
	tick <- time.Now() // the same files again: no second reload
	tick <- time.Now() // (returns once the previous tick is done)
	if n := f.logs.count("tls: certificate reloaded"); n != 1 {
		t.Errorf("%d reloads logged, want 1:\n%s", n, f.logs.String())
	}
}

// TestBrokenReplacementKeepsTheOld: a key that does not match, a file that
// is not PEM and a missing file each leave the current pair serving; each
// is logged once however often polling meets it, and every time a reload
// is asked for; the next good pair is loaded.
func TestBrokenReplacementKeepsTheOld(t *testing.T) {
	f := serve(t)
	tick, hup := f.run(t)
	other := f.ca.Leaf(t)
	broken := []struct {
		name  string
		write func()
		want  string
	}{
		{"key of another certificate", func() { testcert.WriteFile(t, f.keyFile, other.KeyPEM) }, "private key does not match public key"},
		{"not PEM", func() { testcert.WriteFile(t, f.certFile, []byte("not a certificate")) }, "failed to find any PEM data"},
		{"missing key file", func() { os.Remove(f.keyFile) }, "no such file"},
	}
	for _, b := range broken {
		f.logs.reset()
		b.write()
		for range 3 {
			tick <- time.Now()
		}
		tick <- time.Now() // returns once the previous ticks are done
		if got := f.logs.count("new certificate not loaded"); got != 1 {
			t.Fatalf("%s: %d failures logged after polling, want 1:\n%s", b.name, got, f.logs.String())
		}
		if err := f.r.Reload(); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: Reload() = %v, want %q", b.name, err, b.want)
		}
		if got := f.logs.count("new certificate not loaded"); got != 2 {
			t.Errorf("%s: a reload asked for was not logged:\n%s", b.name, f.logs.String())
		}
		if f.presented(t).Cmp(f.first.Cert.SerialNumber) != 0 {
			t.Fatalf("%s: the old certificate is no longer served", b.name)
		}
	}
	next := f.ca.Leaf(t)
	next.Write(t, f.certFile, f.keyFile)
	hup <- syscall.SIGHUP
	f.waitFor(t, next.Cert)
}

func TestNewRefusesWhatCannotServe(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t)
	a, b := ca.Leaf(t), ca.Leaf(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		testcert.WriteFile(t, p, data)
		return p
	}
	certA, keyA, keyB := write("a.pem", a.CertPEM), write("a.key", a.KeyPEM), write("b.key", b.KeyPEM)
	for _, c := range []struct {
		name, cert, key string
		want            []string
	}{
		{"missing certificate", filepath.Join(dir, "none.pem"), keyA, []string{"certificate", "none.pem", "no such file"}},
		{"missing key", certA, filepath.Join(dir, "none.key"), []string{"key", "none.key", "no such file"}},
		{"key and certificate swapped", keyA, certA, []string{"a.key", "a.pem"}},
		{"key of another certificate", certA, keyB, []string{"a.pem", "b.key", "private key does not match public key"}},
	} {
		_, err := certreload.New(c.cert, c.key, certreload.Options{Log: slog.New(slog.DiscardHandler)})
		if err == nil {
			t.Errorf("%s: New succeeded", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", c.name, err, w)
			}
		}
	}
	if _, err := certreload.New(certA, keyA, certreload.Options{}); err != nil {
		t.Errorf("a matching pair: %v", err)
	}
}

func TestExpiredCertificateWarns(t *testing.T) {
	dir := t.TempDir()
	leaf := testcert.NewCA(t).Leaf(t)
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	leaf.Write(t, certFile, keyFile)
	var logs logBuf
	later := func() time.Time { return leaf.Cert.NotAfter.Add(time.Minute) }
	if _, err := certreload.New(certFile, keyFile, certreload.Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), Now: later}); err != nil {
		t.Fatal(err)
	}
	if logs.count("certificate not valid now") != 1 {
		t.Errorf("no warning about the expired certificate:\n%s", logs.String())
	}
}
