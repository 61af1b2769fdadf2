package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// serveMetrics serves /metrics alone on metrics_addr (SPEC §9), on
// MetricsListener when the caller bound it already (tolk serve binds it
// before it opens the database, so that a busy port leaves nothing
// behind), else on a listener it binds now. Without metrics_addr it does
// nothing: /metrics is then a row of the public routes table. stop shuts
// the listener down, for at most the shutdown timeout.
func (s *Server) serveMetrics(ctx context.Context) (stop func(), err error) {
	if s.Config.MetricsAddr == "" {
		return func() {}, nil
	}
	ln := s.MetricsListener
	if ln == nil {
		if ln, err = net.Listen("tcp", s.Config.MetricsAddr); err != nil {
			return nil, err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics.Handler())
	hs := s.httpServer(ctx, mux, 16<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			// Metrics are no reason to stop serving tokens; the gap in
			// the scrapes shows it too.
			s.log.Error("metrics listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	s.log.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
		defer cancel()
		_ = hs.Shutdown(sctx)
		<-done
	}, nil
}

// httpServer is an http.Server for h with tolk's timeouts, its errors
// logged as warnings, and request contexts that outlive ctx's
// cancellation (a shutdown drains them instead), for the public listener
// and the metrics one alike.
func (s *Server) httpServer(ctx context.Context, h http.Handler, maxHeaderBytes int) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}
