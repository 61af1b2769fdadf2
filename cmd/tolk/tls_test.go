package main_test

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/testutil/testcert"
)

// TestServeTLSAndSIGHUP: `tolk serve` with tls_cert_file and tls_key_file
// speaks HTTPS itself: HTTP/2, an https issuer, Secure __Host- cookies and
// HSTS; a SIGHUP to the process makes the next handshakes present the pair
// the files hold then, and the process keeps serving.
func TestServeTLSAndSIGHUP(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := ca.Leaf(t)
	first.Write(t, certFile, keyFile)
	p := start(t, "sqlite:"+filepath.Join(dir, "tolk.db"), "TOLK_ADMIN_PASSWORD="+adminPassword,
		"TOLK_TLS_CERT_FILE="+certFile, "TOLK_TLS_KEY_FILE="+keyFile)
	base := "https://" + p.addr
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}}

	resp, err := client.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("GET /login: %d over HTTP/%d, TLS %x", resp.StatusCode, resp.ProtoMajor, resp.TLS.Version)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q", got)
	}
	var csrf *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "tolk_csrf") {
			csrf = c
		}
	}
	if csrf == nil || csrf.Name != "__Host-tolk_csrf" || !csrf.Secure || !csrf.HttpOnly || csrf.Path != "/" || csrf.Domain != "" {
		t.Errorf("the sign-in page's cookie is not a Secure __Host- cookie: %+v", csrf)
	}

	resp, err = client.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disco struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	err = json.NewDecoder(resp.Body).Decode(&disco)
	resp.Body.Close()
	if err != nil || !strings.HasPrefix(disco.Issuer, "https://127.0.0.1:") || !strings.HasPrefix(disco.TokenEndpoint, "https://") {
		t.Errorf("discovery does not name https: %v %+v", err, disco)
	}

	second := ca.Leaf(t)
	second.Write(t, certFile, keyFile)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", p.addr, &tls.Config{RootCAs: ca.Pool()})
		if err != nil {
			t.Fatalf("handshake after SIGHUP: %v\n%s", err, p.output())
		}
		serial := c.ConnectionState().PeerCertificates[0].SerialNumber
		c.Close()
		if serial.Cmp(second.Cert.SerialNumber) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still the first certificate after SIGHUP:\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The new pair is served the moment it is swapped in, a moment before
	// the reload is logged: wait for the line rather than read it once.
	for !strings.Contains(p.output(), "tls: certificate reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("the reload is not logged:\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stop(t)
}
