package httpx

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tolk-project/tolk/internal/kit/reqctx"
)

type ctxKey int

const (
	stateKey ctxKey = iota
)

// reqState is what tolk's middleware knows about one request: the facts
// domain code reads through reqctx (id, client address, actor) and the
// status recorder of AccessLog and Recover. It is one allocation and one
// context value however many of the middleware fill it, instead of a
// request copy and a context layer each.
//
// It is the request's context itself: the parent context with one more
// value, as context.WithValue would make, without a second allocation.
type reqState struct {
	reqctx.Context // the parent, and the request's facts

	idBytes  [16]byte  // the request id's characters, written once, before RequestID is set
	idHeader [1]string // the X-Request-Id value (len == cap: Add copies)
	rec      StatusRecorder
	exempt   unlessOK // SecurityHeaders' writer on an exempt path
}

// Value returns the state for stateKey, else what reqctx.Context
// answers: the request's facts or the parent's value.
func (s *reqState) Value(key any) any {
	if key == any(stateKey) {
		return s
	}
	return s.Context.Value(key)
}

// String names the context as context.WithValue's would be named.
func (s *reqState) String() string {
	return fmt.Sprint(s.Context.Context) + ".WithValue(httpx.request)"
}

func stateOf(ctx context.Context) *reqState {
	if s, ok := ctx.(*reqState); ok { // the usual case: no walk up the chain
		return s
	}
	s, _ := ctx.Value(stateKey).(*reqState)
	return s
}

// withState returns r's state, adding one to r's context if it has none.
func withState(r *http.Request) (*http.Request, *reqState) {
	if s := stateOf(r.Context()); s != nil {
		return r, s
	}
	s := &reqState{}
	s.Context.Context = r.Context()
	return r.WithContext(s), s
}

// RequestID returns the id of the request in ctx, or "".
func RequestID(ctx context.Context) string {
	if s := stateOf(ctx); s != nil {
		return s.RequestID
	}
	return ""
}

// Chain applies middleware so that the first listed runs first.
func Chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// WithRequestID gives every request an id, in the context and the
// X-Request-Id response header. A client-sent id is not trusted: it could
// forge or inject log lines. Ids are a random per-process prefix and a
// counter: unique and cheap (no syscall per request); they are not secrets.
func WithRequestID(next http.Handler) http.Handler {
	var b [4]byte
	_, _ = rand.Read(b[:])
	var prefix [8]byte
	hex.Encode(prefix[:], b[:])
	var n atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, s := withState(r)
		if s.RequestID != "" {
			// A chain nested in another (the request passed through this
			// middleware before): the inner request gets its own id and
			// state, as its own context value did, keeping what the outer
			// state knew of the client.
			outer := s
			s = &reqState{}
			s.Context.Context = r.Context()
			s.ClientIP = outer.ClientIP
			s.SetActor(outer.Actor())
			r = r.WithContext(s)
		}
		// 16 hex characters, written into the state, which the string
		// then points into instead of copying them to an allocation of
		// its own: they are never written again (a nested chain's
		// request gets a new state), and the string keeps the state
		// alive as long as it is referenced.
		copy(s.idBytes[:8], prefix[:])
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], uint32(n.Add(1)))
		hex.Encode(s.idBytes[8:], c[:])
		s.RequestID = unsafe.String(&s.idBytes[0], len(s.idBytes))
		s.idHeader[0] = s.RequestID
		w.Header()["X-Request-Id"] = s.idHeader[:]
		next.ServeHTTP(w, r)
	})
}

// StatusRecorder remembers the status and size written.
type StatusRecorder struct {
	http.ResponseWriter
	Status int
	Bytes  int
}

// WriteHeader records the status.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.Bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// record returns the StatusRecorder of w: w itself if it is one, else
// the request state's (no allocation) when it is still free, else a new
// one.
func record(w http.ResponseWriter, r *http.Request) *StatusRecorder {
	if sr, ok := w.(*StatusRecorder); ok {
		return sr
	}
	if s := stateOf(r.Context()); s != nil && s.rec.ResponseWriter == nil {
		s.rec.ResponseWriter = w
		return &s.rec
	}
	return &StatusRecorder{ResponseWriter: w}
}

// Recover turns a panic into a logged 500, so no input can crash the
// server or leak a stack trace to a client.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sr := record(w, r)
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic serving request", "request_id", RequestID(r.Context()),
						"method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
					if sr.Status == 0 {
						sr.Header().Set("Content-Type", "application/json")
						sr.WriteHeader(http.StatusInternalServerError)
						_, _ = sr.Write([]byte(`{"error":"server_error","error_description":"internal error"}`))
					}
				}
			}()
			next.ServeHTTP(sr, r)
		})
	}
}

// sensitiveParams are redacted from every logged URL.
var sensitiveParams = []string{
	"token", "access_token", "refresh_token", "id_token", "id_token_hint", "code", "code_verifier",
	"client_secret", "password", "subject_token", "state", "nonce", "key", "api_key",
}

// RedactQuery returns the raw query with sensitive values replaced.
func RedactQuery(raw string) string {
	if raw == "" {
		return ""
	}
	if plainQuery(raw) {
		// No escapes, so every key is literal, and no sensitive name
		// occurs anywhere in it: nothing to redact, and re-encoding would
		// only cost allocations.
		return raw
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "[unparseable]"
	}
	for k := range q {
		for _, s := range sensitiveParams {
			if strings.EqualFold(k, s) {
				q[k] = []string{"REDACTED"}
			}
		}
	}
	return q.Encode()
}

// plainQuery reports whether raw is made of unreserved characters, '=' and
// '&' only (no escapes or '+', which ParseQuery would decode, and no ';',
// which it rejects) and contains no sensitive parameter name, in any case,
// anywhere: then RedactQuery(raw) would change nothing but the order.
func plainQuery(raw string) bool {
	if len(raw) > 256 {
		return false
	}
	var lower [256]byte
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~', c == '=', c == '&':
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		default:
			return false
		}
		lower[i] = c
	}
	l := lower[:len(raw)]
	for _, s := range sensitiveParams {
		if bytes.Contains(l, []byte(s)) {
			return false
		}
	}
	return true
}

// AccessLog logs one line per request: never headers or bodies, and the
// query string only with secrets redacted. The record goes to log's
// handler directly (what Logger.LogAttrs does, less the stack walk for
// the caller's pc, which is taken once here), stamped with the time the
// duration ends.
//
// The 200 answers of the quiet paths are logged at Debug: those are
// forward-auth verdicts, one for every request a proxy lets through,
// which the proxy logs itself; a line for each here would double the
// log and cost every API call behind tolk a formatted record. Their
// other answers (denials, errors) are logged at Info like any request:
// every failed access decision is logged (ASVS 7.2.2).
func AccessLog(log *slog.Logger, quiet ...string) func(http.Handler) http.Handler {
	lh := log.Handler()
	var pcs [1]uintptr
	runtime.Callers(1, pcs[:]) // AccessLog: the source of every line (AddSource)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sr := record(w, r)
			next.ServeHTTP(sr, r)
			ctx := r.Context()
			status := sr.Status
			if status == 0 {
				status = http.StatusOK
			}
			level := slog.LevelInfo
			if status == http.StatusOK && slices.Contains(quiet, r.URL.Path) {
				level = slog.LevelDebug
			}
			if !lh.Enabled(ctx, level) {
				return
			}
			end := time.Now()
			attrs := [8]slog.Attr{slog.String("request_id", RequestID(ctx)), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", status), slog.Int("bytes", sr.Bytes),
				slog.Float64("duration_ms", float64(end.Sub(start).Microseconds())/1000),
				slog.String("remote", ClientIP(ctx))}
			n := 7
			if r.URL.RawQuery != "" {
				attrs[n] = slog.String("query", RedactQuery(r.URL.RawQuery))
				n++
			}
			rec := slog.NewRecord(end, level, "request", pcs[0])
			rec.AddAttrs(attrs[:n]...) // one call: the overflow past the record's inline attrs is one allocation
			_ = lh.Handle(ctx, rec)
		})
	}
}

// SecurityHeaders sets the browser-protection headers on every answer
// (HSTS only when hsts), except on the 200 answers of the exempt paths:
// those are forward-auth verdicts that a reverse proxy reads and no
// browser ever sees. Every other answer on them (a denial, which Traefik
// and Caddy relay to the browser, a 405, a 500) gets the headers when its
// status is written.
func SecurityHeaders(hsts bool, exempt ...string) func(http.Handler) http.Handler {
	set := SetSecurityHeaders(hsts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if slices.Contains(exempt, r.URL.Path) {
				// The request state's writer when it is free (no
				// allocation), as record does.
				if s := stateOf(r.Context()); s != nil && s.exempt.ResponseWriter == nil {
					s.exempt = unlessOK{ResponseWriter: w, set: set}
					next.ServeHTTP(&s.exempt, r)
					return
				}
				next.ServeHTTP(&unlessOK{ResponseWriter: w, set: set}, r)
				return
			}
			set(w.Header())
			next.ServeHTTP(w, r)
		})
	}
}

// unlessOK sets the security headers on any answer but a 200.
type unlessOK struct {
	http.ResponseWriter
	set   func(http.Header)
	wrote bool
}

func (u *unlessOK) WriteHeader(code int) {
	if !u.wrote {
		u.wrote = true
		if code != http.StatusOK {
			u.set(u.Header())
		}
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *unlessOK) Write(b []byte) (int, error) {
	u.wrote = true // an implicit 200
	return u.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (u *unlessOK) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// SetSecurityHeaders returns a function that sets the browser-protection
// headers on h. HTML handlers widen the CSP they need with HTMLHeaders.
func SetSecurityHeaders(hsts bool) func(h http.Header) {
	// Canonical keys assigned directly skip Header.Set's canonicalization.
	// The value slices are shared but have len == cap, so a later Add
	// copies instead of writing into them.
	static := [][2]string{
		{"X-Content-Type-Options", "nosniff"},
		{"X-Frame-Options", "DENY"},
		{"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
		{"Referrer-Policy", "no-referrer"},
		{"Cross-Origin-Opener-Policy", "same-origin"},
	}
	if hsts {
		static = append(static, [2]string{"Strict-Transport-Security", "max-age=63072000; includeSubDomains"})
	}
	values := make([][]string, len(static))
	for i, kv := range static {
		values[i] = []string{kv[1]}[:1:1]
	}
	return func(h http.Header) {
		for i, kv := range static {
			h[kv[0]] = values[i]
		}
	}
}

// HTMLHeaders sets the headers of a server-rendered page: a CSP that
// allows only our own styles, scripts and images, and no caching (pages
// may show secrets shown once).
func HTMLHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	NoStore(w)
}

// NoStore forbids caching of a response that carries a secret.
func NoStore(w http.ResponseWriter) {
	h := w.Header()
	h["Cache-Control"], h["Pragma"] = noStore, noCache
}

// NoStoreForProxy forbids caching of an answer meant for a reverse proxy
// (HTTP/1.1 or later), which needs no HTTP/1.0 Pragma.
func NoStoreForProxy(w http.ResponseWriter) {
	w.Header()["Cache-Control"] = noStore
}

// Shared header values: len == cap, so a later Add copies instead of
// writing into them.
var noStore, noCache = []string{"no-store"}, []string{"no-cache"}

// RetryAfter sets Retry-After in whole seconds, rounded up.
func RetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}
