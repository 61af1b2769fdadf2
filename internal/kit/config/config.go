// Package config loads tolk's settings. Precedence, highest first: command
// line flags, TOLK_* environment variables (and TOLK_*_FILE for secrets),
// the YAML file, defaults. Validate reports every problem at once.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tolk-project/tolk/internal/kit/passwordpolicy"
)

// Config is every setting of tolk.
type Config struct {
	Addr          string
	Issuer        string
	DB            string
	LogFormat     string // text or json
	LogLevel      string // debug, info, warn, error
	AdminPassword string // first admin's password; random when empty

	APITokenTTL     time.Duration // TMS ApiToken lifetime
	QueryToken      bool          // accept TMS ?token=
	APIKeyHeader    string        // header carrying ProZ API keys
	SessionTTL      time.Duration // web sign-in session lifetime
	PasswordWorkers int           // concurrent argon2id computations; 0 = GOMAXPROCS
	// PasswordMinLength is the least number of characters of a new
	// password (internal/kit/passwordpolicy).
	PasswordMinLength int

	// Failed-login limits: a burst, refilled at one per interval.
	LoginUserBurst    int
	LoginUserInterval time.Duration
	LoginIPBurst      int
	LoginIPInterval   time.Duration

	// Abuse limits across instances (docs/limits.md). RateLimitBackend is
	// memory, postgres or redis; empty: postgres on PostgreSQL, memory on
	// SQLite. The other limits are bursts refilled at one per interval.
	RateLimitBackend      string
	RedisURL              string // redis://[:password@]host:port/db, for the redis backend
	RedisPrefix           string // prefix of every key tolk writes in Redis
	ClientFailBurst       int    // failed client authentications per client id
	ClientFailInterval    time.Duration
	ClientRequestBurst    int // token requests per client id
	ClientRequestInterval time.Duration
	InvalidTokenBurst     int // unknown, expired or revoked credentials per client address
	InvalidTokenInterval  time.Duration

	// OAuth 2.0 / OpenID Connect.
	SecretKey        string   // seals signing keys at rest; required with PostgreSQL
	Scopes           []string // the scope catalog
	DefaultScopes    []string // ticked for a new app: the read-only ones, so writing is an admin's choice
	Audiences        []string // the applications behind tolk
	CodeTTL          time.Duration
	AccessTokenTTL   time.Duration
	IDTokenTTL       time.Duration
	RefreshTokenTTL  time.Duration // 0 = never expires (ProZ)
	RefreshGrace     time.Duration // tolerated reuse of a rotated refresh token
	IDTokenAlg       string        // RS256 or ES256
	JWTAccessAlg     string        // alg of RFC 9068 access tokens (RS256, ES256 or EdDSA)
	ExchangeAlg      string        // alg of JWTs issued by token exchange (ES256, RS256 or EdDSA)
	KeyCacheInterval time.Duration // how stale cached signing keys and client registrations may be across instances
	KeyPublishDelay  time.Duration // how long a rotated-in key is published before it signs: longer than verifiers cache the JWKS and than KeyCacheInterval
	VerifyCacheTTL   time.Duration // how long /auth/verify may reuse a verification (0: never); bounds revocation across instances
	// SyncIssuance answers an issued token only once it is on disk (SQLite:
	// after the fsync that covers it; PostgreSQL: synchronous_commit on),
	// as revocations always are. Off, issuance is durable against a crash
	// of tolk when answered (SPEC §7) and on disk moments later; what a
	// power loss takes back fails closed.
	SyncIssuance bool

	// GCPercent is the garbage collector's target tolk serve sets, as
	// GOGC would (internal/kit/gctune); GOGC in the environment wins; 0 leaves
	// Go's default.
	GCPercent int

	TrustedProxies  []netip.Prefix // X-Forwarded-For is believed only from these
	ShutdownTimeout time.Duration
	LocalesDir      string // extra message catalogs (*.json), added to the embedded ones

	// TLSCertFile and TLSKeyFile (PEM; both or neither) make serve speak
	// HTTPS itself, reloading them when they change or on SIGHUP. Without
	// them a TLS-terminating proxy is expected in front.
	TLSCertFile string
	TLSKeyFile  string

	// MetricsAddr, when set, is the address of a listener of its own that
	// serves /metrics (plain HTTP), and /metrics leaves the public one: an
	// operator can then keep scrapes on loopback or a private network
	// instead of publishing runtime and traffic figures. Empty keeps
	// /metrics on addr, as before the setting existed.
	MetricsAddr string

	// Account mail (SPEC §8). Without SMTPURL nothing is mailed and
	// administrators get one-time links instead.
	SMTPURL          string        // smtp://[user:pass@]host:port (STARTTLS when offered) or smtps://… (TLS from the start)
	SMTPFrom         string        // the sender: an address, with or without a name
	PasswordResetTTL time.Duration // how long a password-reset link works
	InvitationTTL    time.Duration // how long an invitation link works

	// Retention (SPEC §9): every CleanupInterval the sweeper deletes what
	// has expired, and audit events older than AuditRetention (0: never).
	CleanupInterval time.Duration
	AuditRetention  time.Duration
	// AuditHold bounds the audit events kept in memory while the database
	// is unavailable, written when it returns; what exceeds it is counted
	// (tolk_audit_events_dropped_total) and logged once per outage.
	AuditHold int
}

// Defaults returns the defaults of SPEC §1.
func Defaults() Config {
	return Config{
		Addr:              "127.0.0.1:8080",
		DB:                "sqlite:tolk.db",
		LogFormat:         "text",
		LogLevel:          "info",
		APITokenTTL:       24 * time.Hour,
		QueryToken:        true,
		APIKeyHeader:      "X-Proz-API-Key",
		SessionTTL:        12 * time.Hour,
		PasswordMinLength: passwordpolicy.DefaultMinLength,
		LoginUserBurst:    10,
		LoginUserInterval: time.Minute,
		LoginIPBurst:      50,
		LoginIPInterval:   6 * time.Second,

		RedisURL:              "redis://127.0.0.1:6379/0",
		RedisPrefix:           "tolk:rl:",
		ClientFailBurst:       20,
		ClientFailInterval:    3 * time.Second,
		ClientRequestBurst:    600,
		ClientRequestInterval: 100 * time.Millisecond,
		InvalidTokenBurst:     100,
		InvalidTokenInterval:  100 * time.Millisecond,
		ShutdownTimeout:       15 * time.Second,
		Scopes: []string{"openid", "profile", "email", "offline_access", "public", "user.email", "user.name",
			"profile.read", "message.send", "read", "write", "orders.create", "team.manage"},
		DefaultScopes:    []string{"openid", "profile", "email", "public", "user.email", "user.name", "profile.read", "read"},
		Audiences:        []string{"tms", "strings", "studio", "language-ai", "connectors"},
		CodeTTL:          30 * time.Second,
		AccessTokenTTL:   14 * 24 * time.Hour,
		IDTokenTTL:       time.Hour,
		IDTokenAlg:       "RS256",
		JWTAccessAlg:     "RS256",
		ExchangeAlg:      "ES256",
		KeyCacheInterval: 5 * time.Second,
		KeyPublishDelay:  15 * time.Minute,
		VerifyCacheTTL:   5 * time.Second,
		GCPercent:        200,
		PasswordResetTTL: time.Hour,
		InvitationTTL:    7 * 24 * time.Hour,
		CleanupInterval:  10 * time.Minute,
		AuditRetention:   90 * 24 * time.Hour,
		AuditHold:        10000,
	}
}

func list(f func(c *Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		var out []string
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			out = append(out, s)
		}
		*f(c) = out
		return nil
	}
}

// setting binds one key to its parser. The YAML key is name, the
// environment variable TOLK_ + upper(name), the flag --name with dashes.
type setting struct {
	name   string
	secret bool // may come from TOLK_<NAME>_FILE
	set    func(c *Config, v string) error
}

func str(f func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *f(c) = v; return nil }
}

func dur(f func(c *Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not a duration (like 24h or 90s): %q", v)
		}
		*f(c) = d
		return nil
	}
}

func integer(f func(c *Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not an integer: %q", v)
		}
		*f(c) = n
		return nil
	}
}

func boolean(f func(c *Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", v)
		}
		*f(c) = b
		return nil
	}
}

var settings = []setting{
	{name: "addr", set: str(func(c *Config) *string { return &c.Addr })},
	{name: "issuer", set: str(func(c *Config) *string { return &c.Issuer })},
	{name: "db", secret: true, set: str(func(c *Config) *string { return &c.DB })},
	{name: "log_format", set: str(func(c *Config) *string { return &c.LogFormat })},
	{name: "log_level", set: str(func(c *Config) *string { return &c.LogLevel })},
	{name: "admin_password", secret: true, set: str(func(c *Config) *string { return &c.AdminPassword })},
	{name: "api_token_ttl", set: dur(func(c *Config) *time.Duration { return &c.APITokenTTL })},
	{name: "query_token", set: boolean(func(c *Config) *bool { return &c.QueryToken })},
	{name: "api_key_header", set: str(func(c *Config) *string { return &c.APIKeyHeader })},
	{name: "session_ttl", set: dur(func(c *Config) *time.Duration { return &c.SessionTTL })},
	{name: "password_workers", set: integer(func(c *Config) *int { return &c.PasswordWorkers })},
	{name: "password_min_length", set: integer(func(c *Config) *int { return &c.PasswordMinLength })},
	{name: "login_user_burst", set: integer(func(c *Config) *int { return &c.LoginUserBurst })},
	{name: "login_user_interval", set: dur(func(c *Config) *time.Duration { return &c.LoginUserInterval })},
	{name: "login_ip_burst", set: integer(func(c *Config) *int { return &c.LoginIPBurst })},
	{name: "login_ip_interval", set: dur(func(c *Config) *time.Duration { return &c.LoginIPInterval })},
	{name: "rate_limit_backend", set: str(func(c *Config) *string { return &c.RateLimitBackend })},
	{name: "redis_url", secret: true, set: str(func(c *Config) *string { return &c.RedisURL })},
	{name: "redis_prefix", set: str(func(c *Config) *string { return &c.RedisPrefix })},
	{name: "client_fail_burst", set: integer(func(c *Config) *int { return &c.ClientFailBurst })},
	{name: "client_fail_interval", set: dur(func(c *Config) *time.Duration { return &c.ClientFailInterval })},
	{name: "client_request_burst", set: integer(func(c *Config) *int { return &c.ClientRequestBurst })},
	{name: "client_request_interval", set: dur(func(c *Config) *time.Duration { return &c.ClientRequestInterval })},
	{name: "invalid_token_burst", set: integer(func(c *Config) *int { return &c.InvalidTokenBurst })},
	{name: "invalid_token_interval", set: dur(func(c *Config) *time.Duration { return &c.InvalidTokenInterval })},
	{name: "trusted_proxies", set: func(c *Config, v string) error {
		c.TrustedProxies = nil
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return fmt.Errorf("not a CIDR or address: %q", s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
		return nil
	}},
	{name: "secret_key", secret: true, set: str(func(c *Config) *string { return &c.SecretKey })},
	{name: "scopes", set: list(func(c *Config) *[]string { return &c.Scopes })},
	{name: "default_scopes", set: list(func(c *Config) *[]string { return &c.DefaultScopes })},
	{name: "audiences", set: list(func(c *Config) *[]string { return &c.Audiences })},
	{name: "code_ttl", set: dur(func(c *Config) *time.Duration { return &c.CodeTTL })},
	{name: "access_token_ttl", set: dur(func(c *Config) *time.Duration { return &c.AccessTokenTTL })},
	{name: "id_token_ttl", set: dur(func(c *Config) *time.Duration { return &c.IDTokenTTL })},
	{name: "refresh_token_ttl", set: dur(func(c *Config) *time.Duration { return &c.RefreshTokenTTL })},
	{name: "refresh_grace", set: dur(func(c *Config) *time.Duration { return &c.RefreshGrace })},
	{name: "id_token_alg", set: str(func(c *Config) *string { return &c.IDTokenAlg })},
	{name: "jwt_access_alg", set: str(func(c *Config) *string { return &c.JWTAccessAlg })},
	{name: "exchange_alg", set: str(func(c *Config) *string { return &c.ExchangeAlg })},
	{name: "key_cache_interval", set: dur(func(c *Config) *time.Duration { return &c.KeyCacheInterval })},
	{name: "key_publish_delay", set: dur(func(c *Config) *time.Duration { return &c.KeyPublishDelay })},
	{name: "verify_cache_ttl", set: dur(func(c *Config) *time.Duration { return &c.VerifyCacheTTL })},
	{name: "sync_issuance", set: boolean(func(c *Config) *bool { return &c.SyncIssuance })},
	{name: "gc_percent", set: integer(func(c *Config) *int { return &c.GCPercent })},
	{name: "shutdown_timeout", set: dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{name: "locales_dir", set: str(func(c *Config) *string { return &c.LocalesDir })},
	{name: "tls_cert_file", set: str(func(c *Config) *string { return &c.TLSCertFile })},
	{name: "tls_key_file", set: str(func(c *Config) *string { return &c.TLSKeyFile })},
	{name: "metrics_addr", set: str(func(c *Config) *string { return &c.MetricsAddr })},
	{name: "smtp_url", secret: true, set: str(func(c *Config) *string { return &c.SMTPURL })},
	{name: "smtp_from", set: str(func(c *Config) *string { return &c.SMTPFrom })},
	{name: "password_reset_ttl", set: dur(func(c *Config) *time.Duration { return &c.PasswordResetTTL })},
	{name: "invitation_ttl", set: dur(func(c *Config) *time.Duration { return &c.InvitationTTL })},
	{name: "cleanup_interval", set: dur(func(c *Config) *time.Duration { return &c.CleanupInterval })},
	{name: "audit_retention", set: dur(func(c *Config) *time.Duration { return &c.AuditRetention })},
	{name: "audit_hold", set: integer(func(c *Config) *int { return &c.AuditHold })},
}

func lookup(name string) (setting, bool) {
	for _, s := range settings {
		if s.name == name {
			return s, true
		}
	}
	return setting{}, false
}

// EnvName is the environment variable of a setting.
func EnvName(name string) string { return "TOLK_" + strings.ToUpper(name) }

// FlagName is the command-line flag of a setting, without dashes.
func FlagName(name string) string { return strings.ReplaceAll(name, "_", "-") }

// Sources are the inputs of Load.
type Sources struct {
	File     string              // YAML file; "" = none (TOLK_CONFIG is used if set)
	Env      func(string) string // os.Getenv in production
	Flags    map[string]string   // setting name -> value, only for flags given
	ReadFile func(string) ([]byte, error)
}

// Load layers defaults, file, environment and flags. Every problem found
// while reading is returned together.
func Load(src Sources) (Config, error) {
	if src.Env == nil {
		src.Env = os.Getenv
	}
	if src.ReadFile == nil {
		src.ReadFile = os.ReadFile
	}
	c := Defaults()
	var errs []error
	file := src.File
	if file == "" {
		file = src.Env("TOLK_CONFIG")
	}
	if file != "" {
		errs = append(errs, loadFile(&c, file, src.ReadFile)...)
	}
	for _, s := range settings {
		if v := src.Env(EnvName(s.name)); v != "" {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(s.name), err))
			}
		}
		if s.secret {
			if path := src.Env(EnvName(s.name) + "_FILE"); path != "" {
				b, err := src.ReadFile(path)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s_FILE: %w", EnvName(s.name), err))
				} else if err := s.set(&c, strings.TrimRight(string(b), "\r\n")); err != nil {
					errs = append(errs, fmt.Errorf("%s_FILE: %w", EnvName(s.name), err))
				}
			}
		}
	}
	names := make([]string, 0, len(src.Flags))
	for n := range src.Flags {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s, ok := lookup(n)
		if !ok {
			errs = append(errs, fmt.Errorf("--%s: unknown setting", FlagName(n)))
			continue
		}
		if err := s.set(&c, src.Flags[n]); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", FlagName(n), err))
		}
	}
	if c.Issuer == "" {
		c.Issuer = defaultIssuer(c.Addr, c.TLS())
	}
	return c, errors.Join(errs...)
}

func loadFile(c *Config, path string, read func(string) ([]byte, error)) []error {
	b, err := read(path)
	if err != nil {
		return []error{fmt.Errorf("config file: %w", err)}
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return []error{fmt.Errorf("config file %s: %w", path, err)}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		s, ok := lookup(k)
		if !ok {
			errs = append(errs, fmt.Errorf("config file %s: unknown key %q", path, k))
			continue
		}
		v := m[k]
		var sv string
		switch x := v.(type) {
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			sv = strings.Join(parts, ",")
		case nil:
			continue
		default:
			sv = fmt.Sprint(x)
		}
		if err := s.set(c, sv); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: %s: %w", path, k, err))
		}
	}
	return errs
}

func defaultIssuer(addr string, tls bool) string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return scheme + net.JoinHostPort(host, port)
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr %q: want host:port", c.Addr)
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/") {
		bad("issuer %q: want an absolute http(s) URL without query, fragment or trailing slash", c.Issuer)
	}
	switch {
	case strings.HasPrefix(c.DB, "sqlite:") && len(c.DB) > len("sqlite:"):
	case strings.HasPrefix(c.DB, "postgres://"), strings.HasPrefix(c.DB, "postgresql://"):
	default:
		bad("db: want sqlite:PATH or postgres://…, got a value of another form")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log_format %q: want text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			bad("%s must be positive, got %s", name, d)
		}
	}
	if c.APIKeyHeader == "" || strings.ContainsAny(c.APIKeyHeader, " :\t\r\n") {
		bad("api_key_header %q: want a header name", c.APIKeyHeader)
	}
	positive("api_token_ttl", c.APITokenTTL)
	positive("session_ttl", c.SessionTTL)
	positive("login_user_interval", c.LoginUserInterval)
	positive("login_ip_interval", c.LoginIPInterval)
	positive("shutdown_timeout", c.ShutdownTimeout)
	if c.GCPercent < 0 {
		bad("gc_percent must be 0 (Go's default) or more, got %d", c.GCPercent)
	}
	if c.LoginUserBurst < 1 {
		bad("login_user_burst must be at least 1, got %d", c.LoginUserBurst)
	}
	if c.LoginIPBurst < 1 {
		bad("login_ip_burst must be at least 1, got %d", c.LoginIPBurst)
	}
	for name, b := range map[string]int{"client_fail_burst": c.ClientFailBurst, "client_request_burst": c.ClientRequestBurst, "invalid_token_burst": c.InvalidTokenBurst} {
		if b < 1 {
			bad("%s must be at least 1, got %d", name, b)
		}
	}
	positive("client_fail_interval", c.ClientFailInterval)
	positive("client_request_interval", c.ClientRequestInterval)
	positive("invalid_token_interval", c.InvalidTokenInterval)
	switch c.RateLimitBackend {
	case "", "memory", "redis":
	case "postgres":
		if !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
			bad("rate_limit_backend postgres needs a PostgreSQL db")
		}
	default:
		bad("rate_limit_backend %q: want memory, postgres or redis", c.RateLimitBackend)
	}
	if c.RateLimitBackend == "redis" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		bad("redis_url: want redis://host:port/db or rediss://…")
	}
	positive("code_ttl", c.CodeTTL)
	positive("access_token_ttl", c.AccessTokenTTL)
	positive("id_token_ttl", c.IDTokenTTL)
	positive("key_cache_interval", c.KeyCacheInterval)
	if c.KeyPublishDelay <= c.KeyCacheInterval {
		bad("key_publish_delay must be longer than key_cache_interval (%s), got %s", c.KeyCacheInterval, c.KeyPublishDelay)
	}
	if c.CodeTTL > 10*time.Minute {
		bad("code_ttl must be at most 10m (RFC 6749 §4.1.2), got %s", c.CodeTTL)
	}
	if c.RefreshTokenTTL < 0 || c.RefreshGrace < 0 {
		bad("refresh_token_ttl and refresh_grace must not be negative")
	}
	if c.IDTokenAlg != "RS256" && c.IDTokenAlg != "ES256" {
		// Relying parties must support RS256 (OIDC Core §15.1) and most
		// know ES256; EdDSA id_tokens would need a per-client choice
		// (id_token_signed_response_alg), which tolk does not offer.
		bad("id_token_alg %q: want RS256 or ES256", c.IDTokenAlg)
	}
	for name, alg := range map[string]string{"jwt_access_alg": c.JWTAccessAlg, "exchange_alg": c.ExchangeAlg} {
		if alg != "RS256" && alg != "ES256" && alg != "EdDSA" {
			bad("%s %q: want RS256, ES256 or EdDSA", name, alg)
		}
	}
	if len(c.Scopes) == 0 {
		bad("scopes must not be empty")
	}
	if len(c.Audiences) == 0 {
		bad("audiences must not be empty")
	}
	if c.SecretKey != "" && len(c.SecretKey) < 32 {
		bad("secret_key must be at least 32 characters")
	}
	if c.SecretKey == "" && (strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://")) {
		bad("secret_key (TOLK_SECRET_KEY or TOLK_SECRET_KEY_FILE) is required with PostgreSQL: every instance must share it to read the signing keys")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("tls_cert_file and tls_key_file: set both (serve speaks HTTPS) or neither (a proxy terminates TLS)")
	}
	if c.TLS() && !strings.HasPrefix(c.Issuer, "https://") {
		// Discovery, redirects and form origins would name a scheme
		// tolk does not speak, and cookies would lose Secure.
		bad("issuer %q: with tls_cert_file tolk speaks only HTTPS; want an https:// issuer (unset, it is https://ADDR)", c.Issuer)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("metrics_addr %q: want host:port (e.g. 127.0.0.1:9464): %v", c.MetricsAddr, err)
		} else if c.MetricsAddr == c.Addr {
			bad("metrics_addr %q: must differ from addr, which serves the public endpoints", c.MetricsAddr)
		}
	}
	if c.PasswordWorkers < 0 {
		bad("password_workers must not be negative, got %d", c.PasswordWorkers)
	}
	// Below the floor the most common short passwords would pass (the
	// shipped list holds none shorter); above MaxBytes none would.
	if c.PasswordMinLength < passwordpolicy.MinLengthFloor || c.PasswordMinLength > passwordpolicy.MaxBytes {
		bad("password_min_length must be between %d and %d, got %d", passwordpolicy.MinLengthFloor, passwordpolicy.MaxBytes, c.PasswordMinLength)
	}
	// The URL may hold the mail server's password: never repeat it.
	if c.SMTPURL != "" && !validSMTPURL(c.SMTPURL) {
		bad("smtp_url: want smtp://[user:pass@]host:port or smtps://[user:pass@]host:port")
	}
	if c.SMTPURL != "" && c.SMTPFrom == "" {
		bad("smtp_from (TOLK_SMTP_FROM) is required with smtp_url: mails need a sender")
	}
	if c.SMTPFrom != "" {
		if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
			bad("smtp_from %q: want an address such as noreply@example.com or \"tolk <noreply@example.com>\"", c.SMTPFrom)
		}
	}
	positive("password_reset_ttl", c.PasswordResetTTL)
	positive("invitation_ttl", c.InvitationTTL)
	positive("cleanup_interval", c.CleanupInterval)
	if c.AuditHold < 1 || c.AuditHold > 10_000_000 {
		bad("audit_hold must be between 1 and 10000000 events, got %d", c.AuditHold)
	}
	if c.AuditRetention != 0 && c.AuditRetention < time.Second {
		bad("audit_retention must be 0 (keep audit events forever) or at least 1s, got %s", c.AuditRetention)
	}
	return errors.Join(errs...)
}

// validSMTPURL reports whether s names a mail server as smtp_url must.
func validSMTPURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" || u.Opaque != "" {
		return false
	}
	port, err := strconv.Atoi(u.Port())
	return err == nil && port >= 1 && port <= 65535 && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == ""
}

// TLS reports whether serve speaks HTTPS itself.
func (c Config) TLS() bool { return c.TLSCertFile != "" && c.TLSKeyFile != "" }

// SecureCookies reports whether browsers reach tolk over https (an https
// issuer, which serving TLS itself requires), so cookies get Secure and
// the __Host- prefix, and answers carry Strict-Transport-Security.
func (c Config) SecureCookies() bool { return c.TLS() || strings.HasPrefix(c.Issuer, "https://") }
