package server

import (
	"context"
	"strconv"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/identity"
	"github.com/tolk-project/tolk/internal/handler/web"
	"github.com/tolk-project/tolk/internal/kit/config"
	"github.com/tolk-project/tolk/internal/kit/i18n"
	"github.com/tolk-project/tolk/internal/kit/mail"
	"github.com/tolk-project/tolk/internal/kit/passwordpolicy"
)

// initRecovery builds account recovery (SPEC §8): reset links,
// invitations and admin resets, and the Mailer that sends them when
// smtp_url is set. Each mail's outcome is an audit event (the kind and
// the recipient's uid, never the link) and a count in
// tolk_mails_total{kind,result}.
func (s *Server) initRecovery(cfg config.Config, id *identity.Service, ui *web.Handler, rec *audit.Recorder, cats *i18n.Catalogs, d Deps) error {
	s.Recovery = &identity.Recovery{ID: id, Issuer: cfg.Issuer, Policy: passwordpolicy.Policy{MinLength: cfg.PasswordMinLength},
		ResetTTL: cfg.PasswordResetTTL, InvitationTTL: cfg.InvitationTTL}
	ui.Recovery = s.Recovery
	if cfg.SMTPURL == "" {
		return nil
	}
	m, err := mail.New(mail.Options{URL: cfg.SMTPURL, From: cfg.SMTPFrom, Catalogs: cats, Log: d.Log, Now: d.Now,
		Report: func(o mail.Outcome) {
			e := audit.Event{Type: audit.MailSent, SubjectUID: o.Ref, Details: map[string]string{"kind": string(o.Kind)}}
			result := "sent"
			if o.Err != nil {
				e.Type, e.Outcome, result = audit.MailFailed, audit.Failure, "failed"
				e.Details["attempts"] = strconv.Itoa(o.Attempts)
			}
			s.Metrics.Mail(string(o.Kind), result)
			rec.Record(context.Background(), e)
		}})
	if err != nil {
		return err
	}
	s.Mailer = m
	s.Recovery.Send = func(msg identity.Mail) {
		m.Send(mail.Message{Kind: mail.Kind(msg.Kind), To: msg.To, Name: msg.Name, Username: msg.Username,
			Language: msg.Language, Link: msg.Link, Expires: msg.Expires, Ref: msg.Ref})
	}
	return nil
}

// CloseMailer delivers the mails still queued, for at most the shutdown
// timeout, before the audit log (which records their outcomes) closes.
func (s *Server) CloseMailer() {
	if s.Mailer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	if err := s.Mailer.Close(ctx); err != nil {
		s.log.Warn("mail: closed with mails undelivered", "err", err)
	}
}
