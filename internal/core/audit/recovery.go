package audit

// Password resets, invitations and admin resets (SPEC §8). Never the link
// or its token: only whose, which kind, and the outcome.
const (
	PasswordResetRequested = "user.password_reset_requested" // /forgot-password for a known account
	PasswordResetLinked    = "user.password_reset_link"      // an admin (or the CLI) made a link: Details["kind"], ["mailed"]
	PasswordReset          = "user.password_reset"           // a link was used: Details["kind"]
	UserInvited            = "user.invited"                  // created without a password, with a link
	TwoFactorReset         = "two_factor.reset"              // an admin removed a user's second factor
	UserEdited             = "user.edited"                   // an admin changed email, names or role: Details["fields"]
	MailSent               = "mail.sent"                     // Details["kind"]; SubjectUID the recipient
	MailFailed             = "mail.failed"                   // Details["kind"], ["attempts"]
)

func init() {
	Types = append(Types, PasswordResetRequested, PasswordResetLinked, PasswordReset, UserInvited,
		TwoFactorReset, UserEdited, MailSent, MailFailed)
}
