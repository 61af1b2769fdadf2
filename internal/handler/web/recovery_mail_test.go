package web_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/store"
	"github.com/tolk-project/tolk/internal/testutil/tolktest"
)

// TestResetMailServerDown: with the mail server down, /forgot-password
// answers at once and as always; the mail's failure is an audit event
// (its kind and recipient, no link) and a count in /metrics, and shutting
// down gives up on it within the shutdown timeout.
func TestResetMailServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	s := tolktest.New(t, tolktest.Options{Config: func(c *config.Config) {
		c.SMTPURL, c.SMTPFrom = "smtp://"+addr, "tolk@example.com"
		c.ShutdownTimeout = 300 * time.Millisecond
	}})
	alice := s.CreateUser(t, "alice", store.RoleLinguist, alicePassword)
	b := newBrowser(s)
	start := time.Now()
	resp, body := rcForgot(t, b, "alice")
	if took := time.Since(start); resp.StatusCode != http.StatusOK || took > 2*time.Second ||
		!strings.Contains(body, "a link to choose a new password is on its way") {
		t.Fatalf("POST /forgot-password with the mail server down: %d after %s", resp.StatusCode, took)
	}
	done := make(chan struct{})
	go func() { s.Tolk.CloseMailer(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("closing the mailer did not give up within the shutdown timeout")
	}
	failed := rcAudit(t, s, audit.MailFailed, alice.UID)
	if len(failed) != 1 || failed[0].Details["kind"] != "password_reset" || failed[0].Outcome != audit.Failure {
		t.Fatalf("mail.failed events: %+v", failed)
	}
	for k, v := range failed[0].Details {
		if strings.Contains(v, "token") || strings.Contains(v, "reset-password") {
			t.Errorf("mail.failed detail %s = %q carries the link", k, v)
		}
	}
	mresp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	m, _ := io.ReadAll(mresp.Body)
	if !strings.Contains(string(m), `tolk_mails_total{kind="password_reset",result="failed"} 1`) {
		t.Errorf("/metrics has no failed mail:\n%s", grepLines(string(m), "tolk_mails"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestResetMailInUsersLanguage: the mail is in the language the user chose
// in the profile, whatever the language of the browser that asked.
func TestResetMailInUsersLanguage(t *testing.T) {
	s, mp := rcServer(t, false, nil)
	u := s.CreateUser(t, "greta", store.RoleLinguist, alicePassword)
	if err := s.Store.UpdateProfile(t.Context(), u.UID, store.Profile{FirstName: u.FirstName, LastName: u.LastName,
		Email: u.Email, Language: "de"}, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(s)
	b.header.Set("Accept-Language", "en")
	rcForgot(t, b, "greta")
	rcMailTo(t, mp, 1, u.Email, "Passwort zurücksetzen")
}
