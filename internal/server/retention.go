package server

import (
	"context"
	"time"

	"github.com/tolk-project/tolk/internal/core/retention"
	"github.com/tolk-project/tolk/internal/core/signing"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/metrics"
	"github.com/tolk-project/tolk/internal/store"
)

// newSweeper builds the retention sweeper (SPEC §9) over st; Serve runs it
// every cleanup_interval.
func newSweeper(cfg config.Config, st store.Store, keys *signing.Keyring, m *metrics.Metrics, d Deps) *retention.Sweeper {
	return retention.New(retention.Options{
		Store: st, Keys: keys, Log: d.Log, Now: d.Now, Metrics: m,
		Interval: cfg.CleanupInterval, AuditRetention: cfg.AuditRetention,
	})
}

// runSweeper runs the sweeper until ctx ends or stop is called; stop
// returns once it has stopped (and freed its lease), before the store
// closes.
func (s *Server) runSweeper(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ticks := time.NewTicker(s.Config.CleanupInterval)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Sweeper.Run(ctx, ticks.C)
	}()
	return func() {
		cancel()
		ticks.Stop()
		<-done
	}
}
