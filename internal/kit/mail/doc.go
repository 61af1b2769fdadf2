// Package mail sends tolk's account mails — password reset, invitation,
// an administrator's reset — as multipart text and HTML in the recipient's
// language, through the SMTP server named by smtp_url (SPEC §8).
//
// A mail server that is down or slow never holds up the request that
// asked for a mail: Send renders the mail and puts it on a bounded queue;
// workers deliver it with a timeout per attempt and a bounded number of
// retries. Every outcome — delivered, given up, dropped because the queue
// was full — reaches the Report callback, so the caller can audit it
// without this package knowing about audit.
//
// Links carry secrets: they are in the mail and nowhere else. Logs name the
// kind of mail and the recipient's domain only.
package mail
