package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tolk-project/tolk/internal/kit/certreload"
	"github.com/tolk-project/tolk/internal/kit/config"
)

// certPollInterval is how often serve looks for a replaced certificate:
// reading two small files costs nothing, and SIGHUP reloads at once.
const certPollInterval = 10 * time.Second

// loadCertificate reads the TLS pair of cfg; nil without TLS. It runs
// before the listener is bound, so a pair that cannot serve leaves nothing
// behind.
func loadCertificate(cfg config.Config, log *slog.Logger) (*certreload.Reloader, error) {
	if !cfg.TLS() {
		return nil, nil
	}
	certs, err := certreload.New(cfg.TLSCertFile, cfg.TLSKeyFile, certreload.Options{Log: log})
	if err != nil {
		return nil, fmt.Errorf("tls_cert_file and tls_key_file: %w", err)
	}
	leaf := certs.Certificate()
	log.Info("serving TLS", "cert_file", cfg.TLSCertFile, "subject", leaf.Subject.String(),
		"serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter)
	return certs, nil
}

// watchCertificate reloads certs when its files change and on SIGHUP until
// the returned stop is called.
func watchCertificate(ctx context.Context, certs *certreload.Reloader, io IO) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var hup <-chan os.Signal
	unsubscribe := func() {}
	if io.Hangups != nil {
		hup, unsubscribe = io.Hangups()
	}
	tick := time.NewTicker(certPollInterval)
	done := make(chan struct{})
	go func() {
		defer close(done)
		certs.Run(ctx, tick.C, hup)
	}()
	return func() {
		cancel()
		<-done
		tick.Stop()
		unsubscribe()
	}
}
