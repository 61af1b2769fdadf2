package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// server is where mails go: smtp_url taken apart.
type server struct {
	host        string
	port        int
	implicitTLS bool // smtps://; otherwise STARTTLS when the server offers it
	user, pass  string
	tls         *tls.Config
}

// parseURL reads smtp://[user:pass@]host:port or smtps://…. Its errors
// never repeat the URL, which may hold a password.
func parseURL(raw string, base *tls.Config) (server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return server{}, errors.New("smtp_url: not a URL")
	}
	var s server
	switch u.Scheme {
	case "smtp":
	case "smtps":
		s.implicitTLS = true
	default:
		return server{}, errors.New("smtp_url: want smtp:// or smtps://")
	}
	s.host = u.Hostname()
	port, err := strconv.Atoi(u.Port())
	if s.host == "" || err != nil || port < 1 || port > 65535 {
		return server{}, errors.New("smtp_url: want host:port")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return server{}, errors.New("smtp_url: want nothing after host:port")
	}
	s.port = port
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	if base != nil {
		s.tls = base.Clone()
	} else {
		s.tls = &tls.Config{}
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = s.host
	}
	if s.tls.MinVersion < tls.VersionTLS12 {
		s.tls.MinVersion = tls.VersionTLS12
	}
	return s, nil
}

// deliver makes one attempt to hand msg to the server, within timeout.
// The connection is closed when ctx ends, so no step of the exchange can
// outlast it, whatever the server does.
func (s server) deliver(ctx context.Context, timeout time.Duration, msg *gomail.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var mu sync.Mutex
	var conns []net.Conn
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	stop := context.AfterFunc(ctx, closeAll)
	defer func() { stop(); closeAll() }()

	dial := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		if ctx.Err() != nil { // ended before the connection was recorded
			c.Close()
			return nil, ctx.Err()
		}
		if !s.implicitTLS {
			return c, nil
		}
		// A *tls.Conn, not a wrapper: go-mail reads the type to know the
		// connection is encrypted.
		tc := tls.Client(c, s.tls)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			return nil, err
		}
		return tc, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(timeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tls),
	}
	if s.implicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.user != "" {
		// The first of these the server offers is used. PLAIN and LOGIN
		// refuse to send the password over a connection without TLS unless
		// the server is on loopback, so a server (or a man in the middle)
		// that stops offering STARTTLS cannot read it.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
			gomail.SMTPAuthPlain, gomail.SMTPAuthLogin, gomail.SMTPAuthCramMD5),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return err
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return timeoutOr(ctx, err)
	}
	if err := client.SendWithSMTPClient(conn, msg); err != nil {
		return timeoutOr(ctx, err)
	}
	// The server has the mail: a failed QUIT does not make it undelivered.
	_ = client.CloseWithSMTPClient(conn)
	return nil
}

// timeoutOr names the attempt's end as the cause when it cut the exchange
// short: the error of a closed connection or of a read past its deadline
// would hide it.
func timeoutOr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// permanent reports whether err is the server's final refusal (a 5xx
// reply), which no retry would change.
func permanent(err error) bool {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code >= 500
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode() >= 500
	}
	return false
}
