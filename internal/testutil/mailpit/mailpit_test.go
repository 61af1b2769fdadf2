package mailpit_test

import (
	"net/smtp"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/testutil/mailpit"
)

func TestWhatIsSentCanBeRead(t *testing.T) {
	srv := mailpit.Start(t, mailpit.Options{})
	body := "From: a@example.com\r\nTo: b@example.org\r\nSubject: hello\r\n\r\nline one\r\n"
	if err := smtp.SendMail(srv.SMTPAddr, nil, "a@example.com", []string{"b@example.org"}, []byte(body)); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Wait(t, 1)
	if len(msgs) != 1 || msgs[0].Subject != "hello" || msgs[0].To[0].Address != "b@example.org" ||
		!strings.Contains(msgs[0].Text, "line one") || !strings.Contains(msgs[0].Raw, "Subject: hello") {
		t.Fatalf("%+v", msgs)
	}
}
