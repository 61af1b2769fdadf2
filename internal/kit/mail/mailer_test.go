package mail_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"html"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/kit/i18n"
	"github.com/tolk-project/tolk/internal/kit/mail"
	"github.com/tolk-project/tolk/internal/testutil/mailpit"
)

const link = "https://id.example.com/reset-password?token=tolk_rt_5ecretT0ken-abcdefghijklmnopqrstuvwxyz0123456789&next=%2Fsettings"

// outcomes collects what a Mailer reports.
type outcomes chan mail.Outcome

func (o outcomes) report(out mail.Outcome) { o <- out }

// next returns the next outcome; a mail's outcome always comes, since every
// attempt is bounded, so the wait is only a guard against a hang.
func (o outcomes) next(t *testing.T) mail.Outcome {
	t.Helper()
	select {
	case out := <-o:
		return out
	case <-time.After(30 * time.Second):
		t.Fatal("no outcome reported")
		return mail.Outcome{}
	}
}

// noWait replaces the pause between attempts and remembers its lengths.
type noWait struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (n *noWait) sleep(ctx context.Context, d time.Duration) error {
	n.mu.Lock()
	n.waits = append(n.waits, d)
	n.mu.Unlock()
	return ctx.Err()
}

func newMailer(t *testing.T, o mail.Options) (*mail.Mailer, outcomes) {
	t.Helper()
	cats, err := i18n.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(outcomes, 100)
	o.Catalogs = cats
	o.Report = got.report
	if o.From == "" {
		o.From = "tolk <noreply@id.example.com>"
	}
	if o.Sleep == nil {
		o.Sleep = (&noWait{}).sleep
	}
	m, err := mail.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = m.Close(ctx)
	})
	return m, got
}

func reset(to, lang string) mail.Message {
	return mail.Message{Kind: mail.PasswordReset, To: to, Name: "Ana Lima", Username: "ana", Language: lang,
		Link: link, Expires: time.Date(2027, 3, 4, 5, 6, 0, 0, time.UTC), Ref: "uid-1"}
}

func TestMailArrivesAsTextAndHTMLInTheRecipientsLanguage(t *testing.T) {
	srv := mailpit.Start(t, mailpit.Options{})
	m, got := newMailer(t, mail.Options{URL: srv.URL(nil)})
	m.Send(reset("ana@example.com", "en"))
	m.Send(reset("bert@example.org", "de"))
	for range 2 {
		if out := got.next(t); out.Err != nil || out.Attempts != 1 || out.Ref != "uid-1" || out.Kind != mail.PasswordReset {
			t.Fatalf("outcome %+v", out)
		}
	}
	msgs := srv.Wait(t, 2)
	byTo := map[string]mailpit.Message{}
	for _, msg := range msgs {
		byTo[msg.To[0].Address] = msg
	}
	for to, want := range map[string]struct{ subject, lang, phrase string }{
		"ana@example.com":  {"Reset your password", "en", "Choose a new password"},
		"bert@example.org": {"Passwort zurücksetzen", "de", "Neues Passwort wählen"},
	} {
		msg, ok := byTo[to]
		if !ok {
			t.Fatalf("no mail to %s among %d", to, len(msgs))
		}
		if msg.Subject != want.subject || msg.From.Address != "noreply@id.example.com" || msg.From.Name != "tolk" {
			t.Errorf("%s: subject %q from %+v", to, msg.Subject, msg.From)
		}
		if !strings.Contains(msg.Raw, "multipart/alternative") || !strings.Contains(msg.Raw, "Content-Language: "+want.lang) {
			t.Errorf("%s: not multipart/alternative in %s:\n%s", to, want.lang, msg.Raw)
		}
		if !strings.Contains(msg.Text, link) || strings.Contains(msg.Text, "<p>") {
			t.Errorf("%s: text part lacks the link or is HTML:\n%s", to, msg.Text)
		}
		if !strings.Contains(msg.HTML, `href="`+html.EscapeString(link)+`"`) || !strings.Contains(msg.HTML, want.phrase) {
			t.Errorf("%s: HTML part lacks the link or %q:\n%s", to, want.phrase, msg.HTML)
		}
	}
	if s := m.Stats(); s.Sent != 2 || s.Failed != 0 || s.Dropped != 0 || s.Retries != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestEveryKindArrives(t *testing.T) {
	srv := mailpit.Start(t, mailpit.Options{})
	m, got := newMailer(t, mail.Options{URL: srv.URL(nil)})
	for _, k := range mail.Kinds() {
		msg := reset(string(k)+"@example.com", "en")
		msg.Kind = k
		m.Send(msg)
	}
	for range mail.Kinds() {
		if out := got.next(t); out.Err != nil {
			t.Fatalf("%+v", out)
		}
	}
	for _, msg := range srv.Wait(t, len(mail.Kinds())) {
		if !strings.Contains(msg.Text, link) || msg.HTML == "" {
			t.Errorf("%s: %q", msg.To[0].Address, msg.Text)
		}
	}
}

func TestAuthWithUserAndPasswordInTheURL(t *testing.T) {
	srv := mailpit.Start(t, mailpit.Options{Users: map[string]string{"tolk@id.example.com": "p:ss w@rd"}})

	m, got := newMailer(t, mail.Options{URL: srv.URL(url.UserPassword("tolk@id.example.com", "p:ss w@rd"))})
	m.Send(reset("ana@example.com", "en"))
	if out := got.next(t); out.Err != nil {
		t.Fatalf("with the right password: %v", out.Err)
	}
	srv.Wait(t, 1)

	// A refused password is final: one attempt, no retries.
	wrong, got := newMailer(t, mail.Options{URL: srv.URL(url.UserPassword("tolk@id.example.com", "wrong")), Attempts: 3})
	wrong.Send(reset("ana@example.com", "en"))
	if out := got.next(t); out.Err == nil || out.Attempts != 1 {
		t.Fatalf("with a wrong password: %+v", out)
	}
	// Without credentials the server refuses the mail.
	anon, got := newMailer(t, mail.Options{URL: srv.URL(nil), Attempts: 2})
	anon.Send(reset("ana@example.com", "en"))
	if out := got.next(t); out.Err == nil {
		t.Fatalf("without credentials: %+v", out)
	}
	if n := len(srv.Messages(t)); n != 1 {
		t.Fatalf("%d mails arrived, want 1", n)
	}
}

func TestImplicitTLS(t *testing.T) {
	srv := mailpit.Start(t, mailpit.Options{ImplicitTLS: true, Users: map[string]string{"u": "pw"}})
	if !strings.HasPrefix(srv.URL(nil), "smtps://") {
		t.Fatal(srv.URL(nil))
	}
	m, got := newMailer(t, mail.Options{URL: srv.URL(url.UserPassword("u", "pw")), TLS: &tls.Config{RootCAs: srv.RootCAs}})
	m.Send(reset("ana@example.com", "de"))
	if out := got.next(t); out.Err != nil {
		t.Fatal(out.Err)
	}
	if msgs := srv.Wait(t, 1); !strings.Contains(msgs[0].Text, link) {
		t.Fatalf("%q", msgs[0].Text)
	}

	// A certificate nobody vouches for is refused.
	untrusted, got := newMailer(t, mail.Options{URL: srv.URL(url.UserPassword("u", "pw")), Attempts: 1})
	untrusted.Send(reset("ana@example.com", "de"))
	if out := got.next(t); out.Err == nil || !strings.Contains(out.Err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %+v", out)
	}
}

func TestSTARTTLSWhenOffered(t *testing.T) {
	srv := mailpit.Start(t, mailpit.Options{TLS: true, Users: map[string]string{"u": "pw"}})
	// The server offers PLAIN only after STARTTLS: the mail arriving shows
	// the upgrade happened.
	m, got := newMailer(t, mail.Options{URL: srv.URL(url.UserPassword("u", "pw")), TLS: &tls.Config{RootCAs: srv.RootCAs}})
	m.Send(reset("ana@example.com", "en"))
	if out := got.next(t); out.Err != nil {
		t.Fatal(out.Err)
	}
	srv.Wait(t, 1)
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentServer accepts connections and never says a word; it counts them.
func silentServer(t *testing.T) (addr string, accepted <-chan struct{}) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 100)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			ch <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), ch
}

func TestServerDownIsReportedAfterTheBoundedRetries(t *testing.T) {
	waits := &noWait{}
	m, got := newMailer(t, mail.Options{URL: "smtp://" + closedAddr(t), Attempts: 4,
		Backoff: time.Second, MaxBackoff: 3 * time.Second, Sleep: waits.sleep})
	m.Send(reset("ana@example.com", "en")) // returns: nothing waits for the server
	out := got.next(t)
	if out.Err == nil || out.Attempts != 4 || out.Ref != "uid-1" || !strings.Contains(out.Err.Error(), "refused") {
		t.Fatalf("outcome %+v", out)
	}
	waits.mu.Lock()
	defer waits.mu.Unlock()
	if want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !equal(waits.waits, want) {
		t.Errorf("waits %v, want %v (doubling, capped)", waits.waits, want)
	}
	if s := m.Stats(); s.Failed != 1 || s.Retries != 3 || s.Sent != 0 {
		t.Errorf("stats %+v", s)
	}
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// refuseOnceThenRelay answers its first connection with 421 (try again
// later) and relays every later one to target.
func refuseOnceThenRelay(t *testing.T, target string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for n := 0; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if n == 0 {
				_, _ = c.Write([]byte("421 4.3.2 busy, try again later\r\n"))
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c) }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return l.Addr().String()
}

func TestTemporaryRefusalIsRetriedAndDelivered(t *testing.T) {
	srv := mailpit.Start(t, mailpit.Options{})
	waits := &noWait{}
	m, got := newMailer(t, mail.Options{URL: "smtp://" + refuseOnceThenRelay(t, srv.SMTPAddr), Sleep: waits.sleep})
	m.Send(reset("ana@example.com", "de"))
	if out := got.next(t); out.Err != nil || out.Attempts != 2 {
		t.Fatalf("outcome %+v", out)
	}
	if msgs := srv.Wait(t, 1); !strings.Contains(msgs[0].Text, link) || msgs[0].Subject != "Passwort zurücksetzen" {
		t.Fatalf("%+v", msgs[0])
	}
	if s := m.Stats(); s.Sent != 1 || s.Retries != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestSilentServerTimesOutEachAttempt(t *testing.T) {
	addr, accepted := silentServer(t)
	m, got := newMailer(t, mail.Options{URL: "smtp://" + addr, Attempts: 2, AttemptTimeout: 50 * time.Millisecond})
	m.Send(reset("ana@example.com", "en"))
	out := got.next(t)
	if out.Err == nil || out.Attempts != 2 || !errors.Is(out.Err, context.DeadlineExceeded) {
		t.Fatalf("outcome %+v", out)
	}
	for range 2 { // one connection per attempt
		select {
		case <-accepted:
		case <-time.After(10 * time.Second):
			t.Fatal("fewer connections than attempts")
		}
	}
}

func TestSendDoesNotWaitForAHangingServer(t *testing.T) {
	addr, accepted := silentServer(t)
	// No attempt would end on its own before the test's deadline.
	m, got := newMailer(t, mail.Options{URL: "smtp://" + addr, AttemptTimeout: time.Hour, Workers: 1})
	m.Send(reset("ana@example.com", "en"))
	m.Send(reset("bert@example.com", "en"))
	<-accepted // a worker is stuck with the first mail, and Send has returned twice

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v", err)
	}
	for range 2 {
		if out := got.next(t); !errors.Is(out.Err, mail.ErrClosed) {
			t.Errorf("outcome %+v, want ErrClosed", out)
		}
	}
	m.Send(reset("carl@example.com", "en"))
	if out := got.next(t); !errors.Is(out.Err, mail.ErrClosed) || out.Attempts != 0 {
		t.Errorf("after Close: %+v", out)
	}
}

func TestFullQueueDropsAndReports(t *testing.T) {
	addr, accepted := silentServer(t)
	m, got := newMailer(t, mail.Options{URL: "smtp://" + addr, AttemptTimeout: time.Hour, Workers: 1, QueueSize: 1})
	m.Send(reset("first@example.com", "en"))
	<-accepted                                // the worker holds the first
	m.Send(reset("second@example.com", "en")) // fills the queue
	m.Send(reset("third@example.com", "en"))  // has no room
	out := got.next(t)
	if out.To != "third@example.com" || !errors.Is(out.Err, mail.ErrQueueFull) || out.Attempts != 0 {
		t.Fatalf("outcome %+v", out)
	}
	if s := m.Stats(); s.Dropped != 1 || s.Queued != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestCloseDeliversWhatIsQueued(t *testing.T) {
	srv := mailpit.Start(t, mailpit.Options{})
	m, got := newMailer(t, mail.Options{URL: srv.URL(nil), Workers: 1})
	for _, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		m.Send(reset(to, "en"))
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d outcomes when Close returned, want 3", len(got))
	}
	for range 3 {
		if out := got.next(t); out.Err != nil {
			t.Fatal(out.Err)
		}
	}
	srv.Wait(t, 3)
}

func TestInvalidMessageIsReportedNotQueued(t *testing.T) {
	m, got := newMailer(t, mail.Options{URL: "smtp://" + closedAddr(t)})
	bad := reset("not an address", "en")
	m.Send(bad)
	if out := got.next(t); !errors.Is(out.Err, mail.ErrInvalid) || out.Attempts != 0 {
		t.Fatalf("%+v", out)
	}
	bad = reset("ana@example.com", "en")
	bad.Link = "javascript:alert(1)"
	m.Send(bad)
	if out := got.next(t); !errors.Is(out.Err, mail.ErrInvalid) {
		t.Fatalf("%+v", out)
	}
}

func TestLogsNameTheKindAndDomainOnly(t *testing.T) {
	srv := mailpit.Start(t, mailpit.Options{})
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ok, got := newMailer(t, mail.Options{URL: srv.URL(nil), Log: log})
	ok.Send(reset("ana.lima@example.com", "en"))
	got.next(t)
	down, got := newMailer(t, mail.Options{URL: "smtp://" + closedAddr(t), Log: log, Attempts: 2})
	down.Send(reset("ana.lima@example.com", "en"))
	got.next(t)

	mu.Lock()
	defer mu.Unlock()
	logs := buf.String()
	for _, secret := range []string{"tolk_rt_", "reset-password", "ana.lima"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{"mail sent", "mail failed", "to_domain=example.com", "kind=password_reset"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestNewRefusesBadSettings(t *testing.T) {
	cats, err := i18n.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]mail.Options{
		"scheme":   {URL: "http://mail.example.com:25", From: "a@example.com", Catalogs: cats},
		"no port":  {URL: "smtp://mail.example.com", From: "a@example.com", Catalogs: cats},
		"from":     {URL: "smtp://mail.example.com:25", From: "nobody", Catalogs: cats},
		"catalogs": {URL: "smtp://mail.example.com:25", From: "a@example.com"},
	} {
		if _, err := mail.New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
