package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/tolk-project/tolk/internal/kit/i18n"
)

// Errors an Outcome may carry besides the server's own.
var (
	ErrQueueFull = errors.New("mail: queue full, mail dropped")
	ErrClosed    = errors.New("mail: mailer closed")
	ErrInvalid   = errors.New("mail: message cannot be built")
)

// Outcome is what became of one mail given to Send.
type Outcome struct {
	Kind     Kind
	To       string
	Ref      string // Message.Ref
	Attempts int    // deliveries tried; 0 when the mail was never tried
	Err      error  // nil: the server accepted the mail
}

// Stats counts mails since New.
type Stats struct {
	Sent    uint64 // accepted by the server
	Failed  uint64 // given up: refused, out of attempts, cut short by Close, or not buildable
	Dropped uint64 // never queued: the queue was full or the mailer closed
	Retries uint64 // attempts after a mail's first
	Queued  int    // waiting now
}

// Options configure a Mailer. URL, From and Catalogs are required; the
// rest have defaults.
type Options struct {
	URL      string // smtp_url: smtp://[user:pass@]host:port (STARTTLS when offered) or smtps://… (TLS from the start)
	From     string // smtp_from: an address, with or without a name ("tolk <noreply@example.com>")
	Catalogs *i18n.Catalogs

	// Report learns the outcome of every mail given to Send, exactly once.
	// It is called from Send itself (a mail that cannot be built or
	// queued) or from a worker, so it must be safe for concurrent use and
	// should return quickly.
	Report func(Outcome)
	Log    *slog.Logger
	Now    func() time.Time // the Date header
	// Sleep waits d between attempts, or returns ctx's error when ctx ends
	// first.
	Sleep func(ctx context.Context, d time.Duration) error
	TLS   *tls.Config // base TLS settings, such as RootCAs for a private CA

	QueueSize      int           // mails waiting at most (1000)
	Workers        int           // mails delivered at once (2)
	Attempts       int           // attempts per mail (5)
	AttemptTimeout time.Duration // bound of one attempt, from connecting to the server's answer (30s)
	Backoff        time.Duration // wait after a mail's first failed attempt, doubled after each (2s)
	MaxBackoff     time.Duration // longest wait between attempts (1m)
}

// Mailer renders mails and delivers them in the background.
type Mailer struct {
	server   server
	from     string
	fromHost string // right of the @ in From: names the Message-IDs
	composer *composer
	report   func(Outcome)
	log      *slog.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	attempts   int
	timeout    time.Duration
	backoff    time.Duration
	maxBackoff time.Duration

	mu     sync.RWMutex // guards closed against Send racing Close
	closed bool
	queue  chan job
	ctx    context.Context // ends when Close gives up waiting; aborts attempts and waits
	cancel context.CancelFunc
	wg     sync.WaitGroup

	sent, failed, dropped, retries atomic.Uint64
}

type job struct {
	kind Kind
	to   string
	ref  string
	mail *gomail.Msg
}

// New checks the options and starts the workers; Close stops them.
func New(o Options) (*Mailer, error) {
	srv, err := parseURL(o.URL, o.TLS)
	if err != nil {
		return nil, err
	}
	from, err := netmail.ParseAddress(o.From)
	if err != nil {
		return nil, errors.New("smtp_from: not an address")
	}
	if o.Catalogs == nil {
		return nil, errors.New("mail: no catalogs")
	}
	comp, err := newComposer(o.Catalogs)
	if err != nil {
		return nil, err
	}
	m := &Mailer{
		server:     srv,
		from:       from.String(),
		fromHost:   domainOf(from.Address),
		composer:   comp,
		report:     o.Report,
		log:        o.Log,
		now:        o.Now,
		sleep:      o.Sleep,
		attempts:   positive(o.Attempts, 5),
		timeout:    positive(o.AttemptTimeout, 30*time.Second),
		backoff:    positive(o.Backoff, 2*time.Second),
		maxBackoff: positive(o.MaxBackoff, time.Minute),
		queue:      make(chan job, positive(o.QueueSize, 1000)),
	}
	if m.report == nil {
		m.report = func(Outcome) {}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.sleep == nil {
		m.sleep = sleep
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for range positive(o.Workers, 2) {
		m.wg.Add(1)
		go m.work()
	}
	return m, nil
}

func positive[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send renders msg and queues it. It never blocks and never fails: a mail
// server that is down or slow, a full queue or a message that cannot be
// built all end in an Outcome given to Report.
func (m *Mailer) Send(msg Message) {
	j := job{kind: msg.Kind, to: msg.To, ref: msg.Ref}
	mail, err := m.build(msg)
	if err != nil {
		m.failed.Add(1)
		m.finish(j, 0, fmt.Errorf("%w: %w", ErrInvalid, err))
		return
	}
	j.mail = mail
	if err := m.enqueue(j); err != nil {
		m.dropped.Add(1)
		m.finish(j, 0, err)
	}
}

func (m *Mailer) enqueue(j job) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	select {
	case m.queue <- j:
		return nil
	default:
		return ErrQueueFull
	}
}

func (m *Mailer) build(msg Message) (*gomail.Msg, error) {
	to, err := netmail.ParseAddress(msg.To)
	if err != nil {
		return nil, errors.New("the recipient is not an address")
	}
	c, err := m.composer.compose(msg)
	if err != nil {
		return nil, err
	}
	mail := gomail.NewMsg()
	if err := mail.From(m.from); err != nil {
		return nil, err
	}
	if err := mail.To(to.String()); err != nil {
		return nil, errors.New("the recipient is not an address")
	}
	mail.Subject(c.Subject)
	mail.SetDateWithValue(m.now())
	mail.SetMessageIDWithValue(rand.Text() + "@" + m.fromHost)
	mail.SetGenHeader(gomail.HeaderContentLang, c.Lang)
	// RFC 3834: no vacation replies to a machine's mail.
	mail.SetGenHeader("Auto-Submitted", "auto-generated")
	mail.SetBodyString(gomail.TypeTextPlain, c.Text)
	mail.AddAlternativeString(gomail.TypeTextHTML, c.HTML)
	return mail, nil
}

func (m *Mailer) work() {
	defer m.wg.Done()
	for j := range m.queue {
		m.deliver(j)
	}
}

// deliver tries j until the server accepts it, refuses it for good, the
// attempts run out, or Close gives up waiting.
func (m *Mailer) deliver(j job) {
	var err error
	attempts := 0
	wait := m.backoff
	for attempts < m.attempts && m.ctx.Err() == nil {
		if attempts > 0 {
			m.retries.Add(1)
		}
		attempts++
		err = m.server.deliver(m.ctx, m.timeout, j.mail)
		if err == nil || permanent(err) || attempts == m.attempts {
			break
		}
		m.log.Info("mail attempt failed, will retry", "kind", j.kind, "to_domain", domainOf(j.to),
			"attempt", attempts, "wait", wait, "err", scrub(err, j.to))
		if m.sleep(m.ctx, wait) != nil {
			break
		}
		wait = min(2*wait, m.maxBackoff)
	}
	if err == nil && attempts == 0 {
		err = ErrClosed
	} else if err != nil && m.ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	if err == nil {
		m.sent.Add(1)
	} else {
		m.failed.Add(1)
	}
	m.finish(j, attempts, err)
}

// finish logs and reports the outcome of j.
func (m *Mailer) finish(j job, attempts int, err error) {
	attrs := []any{"kind", j.kind, "to_domain", domainOf(j.to), "attempts", attempts}
	if err == nil {
		m.log.Info("mail sent", attrs...)
	} else {
		m.log.Warn("mail failed", append(attrs, "err", scrub(err, j.to))...)
	}
	m.report(Outcome{Kind: j.kind, To: j.to, Ref: j.ref, Attempts: attempts, Err: err})
}

// Close stops taking mails and waits until the queued ones are delivered
// or ctx ends; then it cuts the attempts short, reports every mail left as
// failed with ErrClosed, and returns ctx's error. Send after Close reports
// ErrClosed.
func (m *Mailer) Close(ctx context.Context) error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		close(m.queue)
	}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		m.cancel()
		return nil
	case <-ctx.Done():
		m.cancel()
		<-done
		return ctx.Err()
	}
}

// Stats returns the counters.
func (m *Mailer) Stats() Stats {
	return Stats{
		Sent:    m.sent.Load(),
		Failed:  m.failed.Load(),
		Dropped: m.dropped.Load(),
		Retries: m.retries.Load(),
		Queued:  len(m.queue),
	}
}

// domainOf is what logs may say of an address: the part after the @.
func domainOf(addr string) string {
	if a, err := netmail.ParseAddress(addr); err == nil {
		addr = a.Address
	}
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(strings.Trim(addr[i+1:], "> "))
	}
	return ""
}

// scrub returns err's text with the recipient's address reduced to its
// domain: a server's refusal often repeats the address.
func scrub(err error, to string) string {
	if a, perr := netmail.ParseAddress(to); perr == nil {
		to = a.Address
	}
	if to == "" {
		return err.Error()
	}
	return regexp.MustCompile("(?i)"+regexp.QuoteMeta(to)).ReplaceAllLiteralString(err.Error(), "…@"+domainOf(to))
}
