package config

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func files(m map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if v, ok := m[p]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load(Sources{Env: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DB != "sqlite:tolk.db" || c.Issuer != "http://127.0.0.1:8080" || c.APITokenTTL != 24*time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPrecedenceFlagsOverEnvOverFileOverDefaults(t *testing.T) {
	yamlFile := "addr: 127.0.0.1:7000\ndb: sqlite:file.db\nlog_format: json\napi_token_ttl: 2h\n"
	c, err := Load(Sources{
		File:     "tolk.yaml",
		ReadFile: files(map[string]string{"tolk.yaml": yamlFile}),
		Env:      env(map[string]string{"TOLK_DB": "sqlite:env.db", "TOLK_ADDR": "127.0.0.1:7001"}),
		Flags:    map[string]string{"addr": "127.0.0.1:7002"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7002" {
		t.Errorf("addr = %s, want the flag", c.Addr)
	}
	if c.DB != "sqlite:env.db" {
		t.Errorf("db = %s, want the env", c.DB)
	}
	if c.LogFormat != "json" || c.APITokenTTL != 2*time.Hour {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.LogLevel != "info" {
		t.Errorf("default lost: %s", c.LogLevel)
	}
	if c.Issuer != "http://127.0.0.1:7002" {
		t.Errorf("issuer derives from the final addr: %s", c.Issuer)
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	c, err := Load(Sources{
		ReadFile: files(map[string]string{"/etc/tolk.yaml": "issuer: https://id.example.com\n"}),
		Env:      env(map[string]string{"TOLK_CONFIG": "/etc/tolk.yaml"}),
	})
	if err != nil || c.Issuer != "https://id.example.com" || !c.SecureCookies() {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestSecretFromFile(t *testing.T) {
	c, err := Load(Sources{
		ReadFile: files(map[string]string{"/run/secrets/pw": "s3cret\n"}),
		Env:      env(map[string]string{"TOLK_ADMIN_PASSWORD_FILE": "/run/secrets/pw"}),
	})
	if err != nil || c.AdminPassword != "s3cret" {
		t.Fatalf("%v %q", err, c.AdminPassword)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(Sources{
		File:     "c.yaml",
		ReadFile: files(map[string]string{"c.yaml": "bogus: 1\napi_token_ttl: soon\n"}),
		Env:      env(map[string]string{"TOLK_LOGIN_IP_BURST": "many"}),
		Flags:    map[string]string{"query_token": "maybe"},
	})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"unknown key \"bogus\"", "api_token_ttl", "TOLK_LOGIN_IP_BURST", "--query-token"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Defaults()
	c.Addr = "nope"
	c.Issuer = "ftp://x/"
	c.DB = "mysql://x"
	c.LogFormat = "xml"
	c.APITokenTTL = 0
	c.LoginIPBurst = 0
	c.KeyPublishDelay = c.KeyCacheInterval // a key would sign before every instance has it
	err := c.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 7 {
		t.Fatalf("want 7 problems, got %v", err)
	}
	if !strings.Contains(err.Error(), "key_publish_delay") {
		t.Errorf("no key_publish_delay problem in %v", err)
	}
	if strings.Contains(err.Error(), "mysql://x") {
		t.Error("db DSN may hold a password and must not be echoed")
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Load(Sources{Env: env(map[string]string{"TOLK_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})})
	if err != nil || len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "127.0.0.1/32" {
		t.Fatalf("%v %v", err, c.TrustedProxies)
	}
}

func TestPasswordMinLength(t *testing.T) {
	if c := Defaults(); c.PasswordMinLength != 12 {
		t.Fatalf("default password_min_length = %d, SPEC §8 says 12", c.PasswordMinLength)
	}
	cases := []struct {
		env, file string
		want      int
		valid     bool
	}{
		{env: "16", want: 16, valid: true},
		{file: "password_min_length: 10\n", want: 10, valid: true},
		{env: "8", want: 8, valid: true},
		{env: "7", want: 7},       // the most common short passwords would pass
		{env: "0", want: 0},       // no silent default
		{env: "1025", want: 1025}, // longer than a password may be
	}
	for _, tc := range cases {
		src := Sources{
			ReadFile: files(map[string]string{"tolk.yaml": tc.file}),
			Env:      env(map[string]string{"TOLK_PASSWORD_MIN_LENGTH": tc.env}),
		}
		if tc.file != "" {
			src.File = "tolk.yaml"
		}
		c, err := Load(src)
		if err != nil || c.PasswordMinLength != tc.want {
			t.Fatalf("env %q file %q: got %d, %v; want %d", tc.env, tc.file, c.PasswordMinLength, err, tc.want)
		}
		err = c.Validate()
		if tc.valid && err != nil {
			t.Errorf("password_min_length %d: %v", tc.want, err)
		}
		if !tc.valid && (err == nil || !strings.Contains(err.Error(), "password_min_length must be between 8 and 1024")) {
			t.Errorf("password_min_length %d: got %v", tc.want, err)
		}
	}
	if _, err := Load(Sources{Env: env(map[string]string{"TOLK_PASSWORD_MIN_LENGTH": "twelve"})}); err == nil || !strings.Contains(err.Error(), "TOLK_PASSWORD_MIN_LENGTH") {
		t.Fatalf("a word as password_min_length: %v", err)
	}
}

// TestTLS: the pair comes from env or YAML, both or neither; with it the
// default issuer is https (so cookies are Secure and HSTS is sent), and an
// explicit http issuer is refused, since tolk would not speak it.
func TestTLS(t *testing.T) {
	pair := map[string]string{"TOLK_TLS_CERT_FILE": "/etc/tolk/cert.pem", "TOLK_TLS_KEY_FILE": "/etc/tolk/key.pem", "TOLK_ADDR": "0.0.0.0:8443"}
	c, err := Load(Sources{Env: env(pair)})
	if err != nil || c.Validate() != nil {
		t.Fatalf("%v %v", err, c.Validate())
	}
	if !c.TLS() || c.Issuer != "https://localhost:8443" || !c.SecureCookies() || c.TLSCertFile != "/etc/tolk/cert.pem" || c.TLSKeyFile != "/etc/tolk/key.pem" {
		t.Errorf("with a pair from env: TLS %v, issuer %s, secure cookies %v", c.TLS(), c.Issuer, c.SecureCookies())
	}
	c, err = Load(Sources{File: "t.yaml", Env: env(nil),
		ReadFile: files(map[string]string{"t.yaml": "tls_cert_file: c.pem\ntls_key_file: k.pem\nissuer: https://id.example.com\n"})})
	if err != nil || c.Validate() != nil || !c.TLS() || c.Issuer != "https://id.example.com" {
		t.Errorf("a pair from YAML with an https issuer: %v %v %+v", err, c.Validate(), c)
	}

	for _, bad := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"certificate only", map[string]string{"TOLK_TLS_CERT_FILE": "c.pem"}, "set both"},
		{"key only", map[string]string{"TOLK_TLS_KEY_FILE": "k.pem"}, "set both"},
		{"http issuer", map[string]string{"TOLK_TLS_CERT_FILE": "c.pem", "TOLK_TLS_KEY_FILE": "k.pem", "TOLK_ISSUER": "http://id.example.com"}, `issuer "http://id.example.com"`},
	} {
		c, err := Load(Sources{Env: env(bad.env)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: Validate() = %v, want %q", bad.name, err, bad.want)
		}
	}
}

// TestMailSettings: smtp_url is a secret setting (env, _FILE, YAML) that is
// never repeated in an error; smtp_from is an address and required with it;
// the link lifetimes default to SPEC §8 and must be positive.
func TestMailSettings(t *testing.T) {
	c, err := Load(Sources{Env: env(nil)})
	if err != nil || c.Validate() != nil {
		t.Fatalf("%v %v", err, c.Validate())
	}
	if c.SMTPURL != "" || c.PasswordResetTTL != time.Hour || c.InvitationTTL != 7*24*time.Hour {
		t.Errorf("defaults: smtp_url %q, password_reset_ttl %s, invitation_ttl %s", c.SMTPURL, c.PasswordResetTTL, c.InvitationTTL)
	}

	const url = "smtp://tolk:hunter2@mail.example.com:587"
	for name, src := range map[string]Sources{
		"env":  {Env: env(map[string]string{"TOLK_SMTP_URL": url, "TOLK_SMTP_FROM": "tolk <noreply@example.com>"})},
		"file": {Env: env(map[string]string{"TOLK_SMTP_URL_FILE": "/run/secrets/smtp", "TOLK_SMTP_FROM": "noreply@example.com"}), ReadFile: files(map[string]string{"/run/secrets/smtp": url + "\n"})},
		"yaml": {File: "t.yaml", Env: env(nil), ReadFile: files(map[string]string{"t.yaml": "smtp_url: " + url + "\nsmtp_from: noreply@example.com\npassword_reset_ttl: 30m\ninvitation_ttl: 72h\n"})},
	} {
		c, err := Load(src)
		if err != nil || c.Validate() != nil || c.SMTPURL != url || c.SMTPFrom == "" {
			t.Errorf("%s: %v %v %q %q", name, err, c.Validate(), c.SMTPURL, c.SMTPFrom)
		}
		if name == "yaml" && (c.PasswordResetTTL != 30*time.Minute || c.InvitationTTL != 72*time.Hour) {
			t.Errorf("yaml lifetimes: %s %s", c.PasswordResetTTL, c.InvitationTTL)
		}
	}
	if c, _ := Load(Sources{Env: env(map[string]string{"TOLK_SMTP_URL": "smtps://u:hunter2@mail.example.com:465", "TOLK_SMTP_FROM": "a@example.com"})}); c.Validate() != nil {
		t.Errorf("smtps: %v", c.Validate())
	}

	for _, bad := range []struct {
		name, url, from string
		want            string
	}{
		{"scheme", "http://u:hunter2@mail.example.com:25", "a@example.com", "smtp_url"},
		{"no port", "smtp://u:hunter2@mail.example.com", "a@example.com", "smtp_url"},
		{"port zero", "smtp://u:hunter2@mail.example.com:0", "a@example.com", "smtp_url"},
		{"no host", "smtp://u:hunter2@:25", "a@example.com", "smtp_url"},
		{"path", "smtp://u:hunter2@mail.example.com:25/x", "a@example.com", "smtp_url"},
		{"no sender", "smtp://u:hunter2@mail.example.com:25", "", "smtp_from"},
		{"sender not an address", "smtp://u:hunter2@mail.example.com:25", "tolk", "smtp_from"},
	} {
		c := Defaults()
		c.SMTPURL, c.SMTPFrom = bad.url, bad.from
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: Validate() = %v, want %q", bad.name, err, bad.want)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error repeats the password: %v", bad.name, err)
		}
	}
	c = Defaults()
	c.PasswordResetTTL, c.InvitationTTL = 0, -time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "password_reset_ttl") || !strings.Contains(err.Error(), "invitation_ttl") {
		t.Errorf("lifetimes not positive: %v", err)
	}
}

// TestRetention: cleanup_interval and audit_retention default as SPEC §9
// says, come from env or YAML, and are validated: the interval positive,
// the retention 0 (forever) or a second or more.
func TestRetention(t *testing.T) {
	if c := Defaults(); c.CleanupInterval != 10*time.Minute || c.AuditRetention != 2160*time.Hour {
		t.Fatalf("defaults: cleanup_interval %s, audit_retention %s; SPEC §9 says 10m and 2160h", c.CleanupInterval, c.AuditRetention)
	}
	cases := []struct {
		env       map[string]string
		file      string
		interval  time.Duration
		retention time.Duration
		problem   string // "" = valid
	}{
		{env: map[string]string{"TOLK_CLEANUP_INTERVAL": "30s", "TOLK_AUDIT_RETENTION": "720h"}, interval: 30 * time.Second, retention: 720 * time.Hour},
		{file: "cleanup_interval: 1h\naudit_retention: 0s\n", interval: time.Hour, retention: 0},
		{env: map[string]string{"TOLK_AUDIT_RETENTION": "1s"}, interval: 10 * time.Minute, retention: time.Second},
		{env: map[string]string{"TOLK_AUDIT_RETENTION": "999ms"}, interval: 10 * time.Minute, retention: 999 * time.Millisecond,
			problem: "audit_retention must be 0 (keep audit events forever) or at least 1s"},
		{env: map[string]string{"TOLK_AUDIT_RETENTION": "-1h"}, interval: 10 * time.Minute, retention: -time.Hour,
			problem: "audit_retention must be 0"},
		{env: map[string]string{"TOLK_CLEANUP_INTERVAL": "0s"}, interval: 0, retention: 2160 * time.Hour,
			problem: "cleanup_interval must be positive"},
	}
	for _, tc := range cases {
		src := Sources{ReadFile: files(map[string]string{"tolk.yaml": tc.file}), Env: env(tc.env)}
		if tc.file != "" {
			src.File = "tolk.yaml"
		}
		c, err := Load(src)
		if err != nil || c.CleanupInterval != tc.interval || c.AuditRetention != tc.retention {
			t.Fatalf("%v %q: got %s, %s, %v; want %s, %s", tc.env, tc.file, c.CleanupInterval, c.AuditRetention, err, tc.interval, tc.retention)
		}
		err = c.Validate()
		if tc.problem == "" && err != nil {
			t.Errorf("%v %q: %v", tc.env, tc.file, err)
		}
		if tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)) {
			t.Errorf("%v %q: got %v, want %q", tc.env, tc.file, err, tc.problem)
		}
	}
	if _, err := Load(Sources{Env: env(map[string]string{"TOLK_CLEANUP_INTERVAL": "often"})}); err == nil || !strings.Contains(err.Error(), "TOLK_CLEANUP_INTERVAL") {
		t.Fatalf("a word as cleanup_interval: %v", err)
	}
}

// TestMetricsAddr: metrics_addr (TOLK_METRICS_ADDR, YAML) is empty by
// default (/metrics stays on addr); when set it must be host:port and
// another address than addr.
func TestMetricsAddr(t *testing.T) {
	c, err := Load(Sources{Env: env(nil)})
	if err != nil || c.MetricsAddr != "" {
		t.Fatalf("default metrics_addr = %q, %v; want empty", c.MetricsAddr, err)
	}
	c, err = Load(Sources{Env: env(map[string]string{"TOLK_METRICS_ADDR": "127.0.0.1:9464"})})
	if err != nil || c.Validate() != nil || c.MetricsAddr != "127.0.0.1:9464" {
		t.Errorf("from env: %q %v %v", c.MetricsAddr, err, c.Validate())
	}
	c, err = Load(Sources{File: "t.yaml", Env: env(nil), ReadFile: files(map[string]string{"t.yaml": "metrics_addr: '[::1]:9464'\n"})})
	if err != nil || c.Validate() != nil || c.MetricsAddr != "[::1]:9464" {
		t.Errorf("from YAML: %q %v %v", c.MetricsAddr, err, c.Validate())
	}
	for _, bad := range []struct{ addr, want string }{
		{"9464", "want host:port"},
		{"127.0.0.1:8080", "must differ from addr"},
	} {
		c, err := Load(Sources{Env: env(map[string]string{"TOLK_METRICS_ADDR": bad.addr})})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("metrics_addr %q: Validate() = %v, want %q", bad.addr, err, bad.want)
		}
	}
}
