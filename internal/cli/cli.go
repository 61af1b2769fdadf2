// Package cli is tolk's command line (SPEC §1), kept apart from main so
// that tests run every command in-process.
package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/tolk-project/tolk/internal/core/accesstoken"
	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/kit/buildinfo"
	"github.com/tolk-project/tolk/internal/kit/certreload"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/gctune"
	"github.com/tolk-project/tolk/internal/kit/password"
	"github.com/tolk-project/tolk/internal/server"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/store/storeopen"
)

// Version is set at build time with -ldflags "-X …/internal/cli.Version=v1.2.3".
var Version = ""

// IO is the process environment a command sees.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Env    func(string) string
	// Params overrides the argon2id cost (tests); nil = OWASP.
	Params *password.Params
	// Listen overrides how serve opens its listener (tests).
	Listen func(addr string) (net.Listener, error)
	// Ready, if set, is called once serve accepts connections.
	Ready func(addr string)
	// Hangups, if set, subscribes to SIGHUP for as long as serve runs with
	// TLS (each one reloads the certificate) and returns the end of the
	// subscription; cmd/tolk wires signal.Notify. Otherwise SIGHUP keeps
	// its default.
	Hangups func() (<-chan os.Signal, func())
}

// globals are flags every command takes, anywhere on the line. Pointers
// tell "given" from "not given", so flags override env and file only when
// present.
type globals struct {
	Config    string  `help:"YAML configuration file (env TOLK_CONFIG)." type:"path"`
	DB        *string `name:"db" help:"Database: sqlite:PATH or postgres://… (env TOLK_DB; default sqlite:tolk.db)."`
	Addr      *string `help:"Listen address (env TOLK_ADDR; default 127.0.0.1:8080)."`
	Issuer    *string `help:"Public base URL (env TOLK_ISSUER; default http://ADDR, https://ADDR with tls_cert_file)."`
	LogFormat *string `name:"log-format" help:"text or json (env TOLK_LOG_FORMAT)."`
	LogLevel  *string `name:"log-level" help:"debug, info, warn or error (env TOLK_LOG_LEVEL)."`
}

func (g globals) flags() map[string]string {
	m := map[string]string{}
	for name, p := range map[string]*string{"db": g.DB, "addr": g.Addr, "issuer": g.Issuer, "log_format": g.LogFormat, "log_level": g.LogLevel} {
		if p != nil {
			m[name] = *p
		}
	}
	return m
}

type rootCmd struct {
	globals
	Serve   struct{} `cmd:"" help:"Run the server (applies migrations, creates the first admin)."`
	Migrate struct{} `cmd:"" help:"Apply database migrations and exit."`
	User    struct {
		Create userCreate `cmd:"" help:"Create a user; prints it as JSON."`
		List   struct{}   `cmd:"" help:"List users as a JSON array."`
		Passwd userPasswd `cmd:"" help:"Set a user's password (policy applies); ends their web sessions and ApiTokens."`
		Update userUpdate `cmd:"" help:"Change a user's email, names, role or active state; prints the user as JSON."`

		// Recovery without the password (SPEC §8).
		Reset2FA  userNamed `cmd:"" name:"reset-2fa" help:"Remove a user's second factor; they enrol again."`
		ResetLink userNamed `cmd:"" name:"reset-link" help:"Print a one-time link to set a user's password: {\"set_password_url\",\"expires\"}."`
	} `cmd:"" help:"Manage users."`
	Client struct {
		Create clientCreate `cmd:"" help:"Register an OAuth app; prints it as JSON (the secret only here)."`
		List   struct{}     `cmd:"" help:"List OAuth apps as a JSON array."`
		Delete struct {
			ID string `arg:"" help:"client_id"`
		} `cmd:"" help:"Delete an OAuth app and every token issued to it."`
		RotateSecret struct {
			ID string `arg:"" help:"client_id"`
		} `cmd:"" name:"rotate-secret" help:"Give a confidential app a new secret, printed once as JSON {\"client_id\",\"client_secret\"}; the old one is refused at once by new processes and by a running server once its app cache (key_cache_interval) expires."`
	} `cmd:"" help:"Manage registered OAuth apps."`
	Keys struct {
		List   struct{} `cmd:"" help:"List signing keys (public metadata)."`
		Rotate struct {
			Alg []string `name:"alg" help:"Algorithms to rotate: RS256, ES256, EdDSA (Ed25519; the first rotation creates its key), XC20P (the key that seals opaque access tokens). Default: RS256, ES256 and any other with an active key."`
		} `cmd:"" help:"Add a new active key; the old one stays published (or, for XC20P, keeps opening tokens) until its tokens expire."`
	} `cmd:"" help:"Manage JWT signing keys and the access token sealing key."`
	APIKey   apiKeyCmd   `cmd:"" name:"apikey" help:"Manage ProZ API keys."`
	Backup   backupCmd   `cmd:"" help:"Copy a live SQLite database and the key that seals its signing keys into a new directory (PostgreSQL: pg_dump)."`
	Loadtest loadtestCmd `cmd:"" name:"loadtest" help:"Drive a bounded mixed workload of every dialect against a running tolk on loopback; fails on any error."`
	Version  versionCmd  `cmd:"" help:"Print the version, revision, commit time and Go release of this build."`
}

type clientCreate struct {
	Name            string   `required:"" help:"App name shown on the consent screen."`
	Description     string   `help:"Description shown on the consent screen."`
	RedirectURI     []string `name:"redirect-uri" help:"Exact redirect URI (repeatable)."`
	Grant           []string `name:"grant" help:"Allowed grant type (repeatable): authorization_code, refresh_token, client_credentials, implicit."`
	Scope           []string `name:"scope" help:"Allowed scope (repeatable; default: the whole catalog)."`
	Audience        []string `name:"audience" help:"Application its tokens are for (repeatable; default: all)."`
	Public          bool     `help:"Public app (no secret; PKCE required)."`
	AdminConsent    bool     `name:"admin-consent" help:"Only an ADMIN may allow it."`
	JWTAccessTokens bool     `name:"jwt-access-tokens" help:"Issue RFC 9068 JWT access tokens."`
	AlwaysRefresh   bool     `name:"always-refresh" help:"Issue a refresh token even without offline_access."`
}

type userCreate struct {
	Username      string `required:"" help:"User name (unique, case-insensitive)."`
	Email         string `required:"" help:"Email address (unique)."`
	Role          string `default:"LINGUIST" help:"ADMIN, PROJECT_MANAGER, LINGUIST, GUEST or SUBMITTER."`
	FirstName     string `name:"first-name"`
	LastName      string `name:"last-name"`
	PasswordStdin bool   `name:"password-stdin" help:"Read the password from the first line of standard input; without it the user gets a set_password_url to choose one."`
}

// Run executes the command line args (without the program name) and
// returns the process exit code.
func Run(ctx context.Context, args []string, io IO) int {
	var root rootCmd
	exit := -1
	parser, err := kong.New(&root, kong.Name("tolk"),
		kong.Description("tolk: identity and API access for translation platforms."),
		kong.Writers(io.Stdout, io.Stderr),
		kong.Exit(func(code int) { exit = code }),
		kong.UsageOnError())
	if err != nil {
		fmt.Fprintln(io.Stderr, "tolk:", err)
		return 2
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 {
		return exit // --help
	}
	if err != nil {
		fmt.Fprintln(io.Stderr, "tolk:", err)
		return 2
	}
	if err := run(ctx, kctx.Command(), &root, io); err != nil {
		fmt.Fprintln(io.Stderr, "tolk:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, cmd string, root *rootCmd, io IO) error {
	if cmd == "version" {
		info := buildinfo.Read(Version)
		if root.Version.JSON {
			return writeJSON(io.Stdout, info)
		}
		fmt.Fprintln(io.Stdout, "tolk", info)
		return nil
	}
	if cmd == "loadtest" { // a client of a running tolk: no database here
		return loadtestRun(ctx, root.Loadtest, io)
	}
	if io.Env == nil { // as config.Load would; serve's gctune reads it too
		io.Env = os.Getenv
	}
	cfg, err := config.Load(config.Sources{File: root.Config, Env: io.Env, Flags: root.flags()})
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg, io.Stderr)
	if cmd == "backup" { // reads the database as it is: no migration, no first admin
		return backupRun(ctx, cfg, root.Backup, io)
	}
	var ln, mln net.Listener
	var certs *certreload.Reloader
	if cmd == "serve" {
		if certs, err = loadCertificate(cfg, log); err != nil {
			return err
		}
		// Bound before anything else: a busy port must leave no fresh
		// database, key file or printed admin password behind.
		listen := io.Listen
		if listen == nil {
			listen = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
		}
		if ln, err = listen(cfg.Addr); err != nil {
			return err
		}
		defer ln.Close() // Serve closes it too; this covers a failure before Serve
		if certs != nil {
			ln = tls.NewListener(ln, certs.TLSConfig())
		}
		if cfg.MetricsAddr != "" {
			// Plain HTTP even with TLS: scrapes stay on loopback or a
			// private network (docs/operations.md, Monitoring).
			if mln, err = listen(cfg.MetricsAddr); err != nil {
				return fmt.Errorf("metrics_addr: %w", err)
			}
			defer mln.Close()
		}
	}
	// The store logs a database outage once (postgres: "database
	// unreachable", "database reachable again").
	st, err := storeopen.OpenWith(ctx, cfg.DB, storeopen.Options{SyncIssuance: cfg.SyncIssuance, Log: log})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if cmd == "migrate" {
		log.Info("migrations applied")
		return nil
	}
	srv, err := server.New(cfg, st, server.Deps{Log: log, Params: io.Params, Stderr: io.Stderr})
	if err != nil {
		return err
	}
	if err := srv.Bootstrap(ctx, io.Stderr); err != nil {
		return err
	}
	switch cmd {
	case "serve":
		if gctune.Apply(cfg.GCPercent, io.Env) {
			log.Debug("garbage collector target set", "gc_percent", cfg.GCPercent)
		}
		if certs != nil {
			defer watchCertificate(ctx, certs, io)()
		}
		if io.Ready != nil {
			io.Ready(ln.Addr().String())
		}
		srv.MetricsListener = mln
		return srv.Serve(ctx, ln)
	case "apikey create", "apikey list", "apikey revoke <id>":
		return apiKeyRun(ctx, srv, cmd, root.APIKey, io)
	case "client create":
		return clientCreateCmd(ctx, srv, root.Client.Create, io)
	case "client list":
		cs, err := st.ListClients(ctx, "")
		if err != nil {
			return err
		}
		out := make([]clientJSON, 0, len(cs))
		for _, c := range cs {
			out = append(out, toClientJSON(c, ""))
		}
		return writeJSON(io.Stdout, out)
	case "client rotate-secret <id>":
		sec, err := srv.Authz.RotateClientSecret(ctx, root.Client.RotateSecret.ID)
		if err != nil {
			return fmt.Errorf("client %q: %w", root.Client.RotateSecret.ID, err)
		}
		return writeJSON(io.Stdout, map[string]string{"client_id": root.Client.RotateSecret.ID, "client_secret": sec})
	case "client delete <id>":
		if _, err := st.GetClient(ctx, root.Client.Delete.ID); err != nil {
			return fmt.Errorf("client %q: %w", root.Client.Delete.ID, err)
		}
		return srv.Authz.DeleteClient(ctx, root.Client.Delete.ID)
	case "keys list":
		keys, err := srv.Keys.Keys(ctx)
		if err != nil {
			return err
		}
		return writeJSON(io.Stdout, keys)
	case "keys rotate":
		algs := root.Keys.Rotate.Alg
		if len(algs) == 0 {
			// Every algorithm in use, so that an opted-in EdDSA key is
			// not left out of a routine rotation.
			algs = []string{"RS256", "ES256"}
			keys, err := srv.Keys.Keys(ctx)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if k.Active && !slices.Contains(algs, k.Alg) {
					algs = append(algs, k.Alg)
				}
			}
		}
		for _, alg := range algs {
			var kid string
			if alg == accesstoken.Alg {
				// Stored with the signing keys, rotated by its own kind.
				if kid, err = srv.Authz.Sealer.Rotate(ctx); err != nil {
					return err
				}
			} else {
				k, err := srv.Keys.Rotate(ctx, alg)
				if err != nil {
					return err
				}
				kid = k.KID
			}
			srv.Audit.Record(ctx, audit.Event{Type: audit.SigningKeyRotated, Details: map[string]string{"alg": alg, "kid": kid, "via": "cli"}})
		}
		keys, err := srv.Keys.Keys(ctx)
		if err != nil {
			return err
		}
		return writeJSON(io.Stdout, keys)
	case "user create":
		return userCreateCmd(ctx, srv, root.User.Create, io)
	case "user passwd":
		return userPasswdCmd(ctx, srv, root.User.Passwd, io)
	case "user update":
		return userUpdateCmd(ctx, srv, root.User.Update, io)
	case "user reset-2fa":
		return userReset2FACmd(ctx, srv, root.User.Reset2FA, io)
	case "user reset-link":
		return userResetLinkCmd(ctx, srv, root.User.ResetLink, io)
	case "user list":
		users, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		out := make([]userJSON, 0, len(users))
		for _, u := range users {
			out = append(out, toJSON(u))
		}
		return writeJSON(io.Stdout, out)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

type userJSON struct {
	UID       string `json:"uid"`
	ID        string `json:"id"`
	UserName  string `json:"userName"`
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Role      string `json:"role"`
	Active    bool   `json:"active"`
	OrgUID    string `json:"organizationUid"`
	CreatedAt string `json:"createdAt"`
}

func toJSON(u store.User) userJSON {
	return userJSON{UID: u.UID, ID: u.ID, UserName: u.UserName, Email: u.Email, FirstName: u.FirstName,
		LastName: u.LastName, Role: string(u.Role), Active: u.Active, OrgUID: u.OrgUID,
		CreatedAt: u.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func userCreateCmd(ctx context.Context, srv *server.Server, c userCreate, stdio IO) error {
	if !c.PasswordStdin {
		return userInviteCmd(ctx, srv, c, stdio)
	}
	line, err := bufio.NewReader(stdio.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading password from stdin: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	u, err := srv.Identity.CreateUser(ctx, identity.NewUser{
		UserName: c.Username, Email: c.Email, Role: store.Role(strings.ToUpper(c.Role)),
		FirstName: c.FirstName, LastName: c.LastName, Password: pw,
	})
	if err != nil {
		return err
	}
	return writeJSON(stdio.Stdout, toJSON(u))
}

type versionCmd struct {
	JSON bool `name:"json" help:"Print {\"version\",\"revision\",\"time\",\"modified\",\"go\"}."`
}
