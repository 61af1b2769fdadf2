// Package certreload serves TLS with a certificate and key read from two PEM
// files, and replaces the pair when the files change or when asked, without
// a restart: each handshake takes the pair current at that moment, and
// connections already open keep theirs.
//
// A replacement that cannot be used (unreadable, not PEM, a key that does
// not match the certificate) leaves the current pair in place and is
// reported once, not on every poll: a renewal tool that writes the two files
// one after the other is seen half-done at most once and succeeds at the
// next look.
//
// The package handles no signals and starts no timers of its own: Run is
// given the ticks to poll on and the channel that asks for a reload
// (SIGHUP in tolk serve), so tests drive both.
package certreload

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Options are what a Reloader needs besides its files.
type Options struct {
	Log *slog.Logger     // nil: slog.Default()
	Now func() time.Time // nil: time.Now; warns about an expired certificate
}

// Reloader holds the pair last read from its files.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	current atomic.Pointer[tls.Certificate]

	mu       sync.Mutex // one reload at a time; guards loaded and rejected
	loaded   [sha256.Size]byte
	rejected string // what the last failure was about, so polling reports it once
}

// New reads the pair and fails if it cannot serve with it.
func New(certFile, keyFile string, opts Options) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: opts.Log, now: opts.Now}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	certPEM, keyPEM, sum, err := r.read()
	if err != nil {
		return nil, err
	}
	c, err := r.parse(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	r.current.Store(c)
	r.loaded = sum
	r.warnIfExpired(c.Leaf)
	return r, nil
}

// TLSConfig is a server configuration that presents the current pair:
// TLS 1.2 at least, HTTP/2 offered before HTTP/1.1.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: r.GetCertificate,
	}
}

// GetCertificate returns the current pair, for tls.Config.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current.Load(), nil
}

// Certificate is the leaf certificate of the current pair.
func (r *Reloader) Certificate() *x509.Certificate { return r.current.Load().Leaf }

// Reload reads the files now. Unchanged files are not parsed again; a pair
// that cannot be used is logged and returned, and the current one stays.
func (r *Reloader) Reload() error { return r.reload(true) }

// Run polls the files on every tick and reloads on every value from reload,
// until ctx ends. Either channel may be nil.
func (r *Reloader) Run(ctx context.Context, tick <-chan time.Time, reload <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			_ = r.reload(false)
		case <-reload:
			_ = r.Reload()
		}
	}
}

// reload replaces the current pair if the files hold a different, usable
// one. A failure is logged when asked, or when polling meets it first.
func (r *Reloader) reload(asked bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, keyPEM, sum, err := r.read()
	failure := ""
	switch {
	case err != nil:
		failure = err.Error()
	case sum == r.loaded:
		if asked {
			r.log.Info("tls: certificate files unchanged", "cert_file", r.certFile, "serial", r.Certificate().SerialNumber.Text(16))
		}
		return nil
	default:
		var c *tls.Certificate
		if c, err = r.parse(certPEM, keyPEM); err == nil {
			r.current.Store(c)
			r.loaded, r.rejected = sum, ""
			r.log.Info("tls: certificate reloaded", "cert_file", r.certFile, "subject", c.Leaf.Subject.String(),
				"serial", c.Leaf.SerialNumber.Text(16), "not_after", c.Leaf.NotAfter)
			r.warnIfExpired(c.Leaf)
			return nil
		}
		failure = string(sum[:])
	}
	if asked || failure != r.rejected {
		r.log.Error("tls: new certificate not loaded; serving the previous one", "err", err,
			"serial", r.Certificate().SerialNumber.Text(16))
	}
	r.rejected = failure
	return err
}

// read returns both files and a digest of the two.
func (r *Reloader) read() (certPEM, keyPEM []byte, sum [sha256.Size]byte, err error) {
	if certPEM, err = os.ReadFile(r.certFile); err != nil {
		return nil, nil, sum, fmt.Errorf("certificate: %w", err)
	}
	if keyPEM, err = os.ReadFile(r.keyFile); err != nil {
		return nil, nil, sum, fmt.Errorf("key: %w", err)
	}
	c, k := sha256.Sum256(certPEM), sha256.Sum256(keyPEM)
	return certPEM, keyPEM, sha256.Sum256(append(c[:], k[:]...)), nil
}

func (r *Reloader) parse(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	if c.Leaf == nil { // filled by X509KeyPair unless GODEBUG x509keypairleaf=0
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate %s: %w", r.certFile, err)
		}
	}
	return &c, nil
}

func (r *Reloader) warnIfExpired(leaf *x509.Certificate) {
	if now := r.now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		r.log.Warn("tls: certificate not valid now; clients will refuse it", "cert_file", r.certFile,
			"not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
	}
}
