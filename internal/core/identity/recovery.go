package identity

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/ratelimit"
	"github.com/tolk-project/tolk/internal/kit/passwordpolicy"
	"github.com/tolk-project/tolk/internal/kit/secret"
	"github.com/tolk-project/tolk/internal/store"
)

// Recovery is how a user comes to a password without the current one
// (SPEC §8): a reset link asked for at /forgot-password, one an admin
// sends or the CLI prints, and the invitation of a user created without a
// password. Every link leads to /reset-password; it is 43 characters from
// crypto/rand (Service.Gen), stored as its SHA-256 only, bound to the user
// it was made for, works once and only until it expires.
type Recovery struct {
	ID *Service
	// Send mails a link in the background and never blocks; nil means no
	// mail is configured, and admins get the link to pass on instead.
	Send          func(Mail)
	Issuer        string // public base URL: links are absolute
	Policy        passwordpolicy.Policy
	ResetTTL      time.Duration // password_reset_ttl: links a user asks for
	InvitationTTL time.Duration // invitation_ttl: invitations, admin resets, the CLI's links
}

// Mail is an account mail carrying a link (kit/mail.Message, without
// the kit: the server adapts it).
type Mail struct {
	Kind     string // "password_reset", "invitation" or "admin_reset"
	To       string
	Name     string
	Username string
	Language string
	Link     string
	Expires  time.Time
	Ref      string // the recipient's uid
}

// The kinds of link, which are also the kinds of mail.
const (
	LinkReset      = "password_reset"
	LinkInvitation = "invitation"
	LinkAdminReset = "admin_reset"
)

// Link is a freshly made link: URL is shown or mailed once, never stored.
type Link struct {
	URL     string
	Expires time.Time
	Mailed  bool // sent to the user; URL must then not be shown
}

// resetTokenLen is the length of a link's token (~256 bits).
const resetTokenLen = 43

func (r *Recovery) mailing() bool { return r.Send != nil }

// newLink makes and stores a link of kind for u.
func (r *Recovery) newLink(ctx context.Context, u store.User, kind string, ttl time.Duration) (Link, error) {
	tok, err := r.ID.Gen.Alphanumeric(resetTokenLen)
	if err != nil {
		return Link{}, err
	}
	now := r.ID.now()
	l := Link{URL: strings.TrimRight(r.Issuer, "/") + "/reset-password?token=" + tok, Expires: now.Add(ttl)}
	err = r.ID.Store.CreatePasswordReset(ctx, store.PasswordReset{Hash: secret.Hash(tok), UserUID: u.UID, Purpose: kind,
		CreatedAt: now, ExpiresAt: l.Expires})
	return l, err
}

// mail sends l to u, if mail is configured: in the language u chose in
// the profile, else in lang (the language of the request that caused it).
func (r *Recovery) mail(u store.User, kind, lang string, l *Link) {
	if !r.mailing() {
		return
	}
	if u.Language != "" {
		lang = u.Language
	}
	if u.Language != "" {
		lang = u.Language // the profile's choice wins over the page's (SPEC §8: mails in the user's language)
	}
	r.Send(Mail{Kind: kind, To: u.Email, Name: strings.TrimSpace(u.FirstName + " " + u.LastName), Username: u.UserName,
		Language: lang, Link: l.URL, Expires: l.Expires, Ref: u.UID})
	l.Mailed = true
}

// RequestReset answers /forgot-password for name (a user name or email):
// an active account gets a reset link by mail. The answer is the same
// whether the account exists or not (nil), and so is the work done on
// the request's path, but for the store's insert (the mail itself leaves
// in the background): every request takes a token of the address's and
// the account's (or the typed name's) failure limits, as a failed sign-in
// does, and keeps it. A *ThrottledError when a limit is spent, for known
// and unknown names alike.
func (r *Recovery) RequestReset(ctx context.Context, name, addr, lang string) error {
	s := r.ID
	var res ratelimit.Reservation
	if err := s.take(ctx, "", &res, s.AddrLimit, addrLimitKey(addr)); err != nil {
		return err
	}
	u, err := s.lookupUser(ctx, name)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		_ = res.Release(ctx)
		return err
	}
	key := userLimitKey(name)
	if found {
		key = accountKey(u.UID)
	}
	if err := s.take(ctx, "", &res, s.UserLimit, key); err != nil {
		return err
	}
	res.Keep()
	if !found || !u.Active || !r.mailing() {
		// The same randomness as for a real link, so that the answer
		// takes the same path.
		_, err := s.Gen.Alphanumeric(resetTokenLen)
		return err
	}
	l, err := r.newLink(ctx, u, LinkReset, r.ResetTTL)
	if err != nil {
		return err
	}
	r.mail(u, LinkReset, lang, &l)
	s.Audit.Record(ctx, audit.Event{Type: audit.PasswordResetRequested, SubjectUID: u.UID, OrgUID: u.OrgUID})
	return nil
}

// linkUser returns the link of token and its user, if the link may be
// used now: unused, unexpired, of an active user. ErrInvalidToken
// otherwise.
func (r *Recovery) linkUser(ctx context.Context, token string) (store.PasswordReset, store.User, error) {
	if len(token) != resetTokenLen || !alphanumeric(token) {
		return store.PasswordReset{}, store.User{}, ErrInvalidToken
	}
	l, err := r.ID.Store.GetPasswordReset(ctx, secret.Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.PasswordReset{}, store.User{}, ErrInvalidToken
	}
	if err != nil {
		return store.PasswordReset{}, store.User{}, err
	}
	if !r.ID.now().Before(l.ExpiresAt) {
		return store.PasswordReset{}, store.User{}, ErrInvalidToken
	}
	u, err := r.ID.activeUser(ctx, l.UserUID)
	return l, u, err
}

func alphanumeric(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// CheckLink reports whether token is a link that can be used now, and
// for whom (the page shows the user name).
func (r *Recovery) CheckLink(ctx context.Context, token string) (store.User, error) {
	_, u, err := r.linkUser(ctx, token)
	return u, err
}

// ResetPassword sets the password of the link's user to pw, under the
// password policy (*passwordpolicy.Violation, the link stays usable). It
// uses the link up (store.RedeemPasswordReset: once, under any
// concurrency) and ends every web session, pending sign-in, ApiToken and
// other link of the user. Two-factor stays: the next sign-in asks for
// the code. ErrInvalidToken for a link that is unknown, used, expired or
// of an inactive user.
func (r *Recovery) ResetPassword(ctx context.Context, token, pw string) (store.User, error) {
	l, u, err := r.linkUser(ctx, token)
	if err != nil {
		return store.User{}, err
	}
	if err := r.Policy.Check(u.UserName, u.Email, pw); err != nil {
		return store.User{}, err
	}
	hash, err := r.ID.Hasher.Hash(ctx, pw)
	if err != nil {
		return store.User{}, err
	}
	defer r.ID.Revocations.Revoked() // the sessions and ApiTokens it ends
	if err := r.ID.Store.RedeemPasswordReset(ctx, l.Hash, u.UID, hash, r.ID.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, ErrInvalidToken
		}
		return store.User{}, err
	}
	r.ID.Audit.Record(ctx, audit.Event{Type: audit.PasswordReset, ActorUID: u.UID, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"kind": l.Purpose}})
	return u, nil
}

// AdminReset makes a reset link for the user uid of the admin's
// organization: mailed when mail is configured (Link.Mailed), otherwise
// for the admin to pass on, shown once. The current password keeps
// working until the link is used.
func (r *Recovery) AdminReset(ctx context.Context, admin store.User, uid, lang string) (store.User, Link, error) {
	u, err := r.ID.orgUser(ctx, admin, uid)
	if err != nil {
		return store.User{}, Link{}, err
	}
	l, err := r.adminLink(ctx, admin.UID, u, lang, true)
	return u, l, err
}

func (r *Recovery) adminLink(ctx context.Context, actor string, u store.User, lang string, mail bool) (Link, error) {
	if !u.Active {
		return Link{}, ErrForbidden
	}
	l, err := r.newLink(ctx, u, LinkAdminReset, r.InvitationTTL)
	if err != nil {
		return Link{}, err
	}
	if mail {
		r.mail(u, LinkAdminReset, lang, &l)
	}
	r.ID.Audit.Record(ctx, audit.Event{Type: audit.PasswordResetLinked, ActorUID: actor, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"kind": LinkAdminReset, "mailed": strconv.FormatBool(l.Mailed)}})
	return l, nil
}

// ResetLink is the CLI's `tolk user reset-link`: a link for the user
// named userName, printed, never mailed.
func (r *Recovery) ResetLink(ctx context.Context, userName string) (store.User, Link, error) {
	u, err := r.ID.named(ctx, userName)
	if err != nil {
		return store.User{}, Link{}, err
	}
	l, err := r.adminLink(ctx, "", u, "", false)
	return u, l, err
}

// Invite creates a user of the admin's organization without a password
// (n.Password is ignored) and makes an invitation link, valid
// invitation_ttl: mailed when mail is configured, otherwise shown once.
func (r *Recovery) Invite(ctx context.Context, admin store.User, n NewUser, lang string) (store.User, Link, error) {
	if admin.Role != store.RoleAdmin {
		return store.User{}, Link{}, ErrForbidden
	}
	n.OrgUID = admin.OrgUID
	return r.invite(ctx, admin.UID, n, lang, true)
}

// CreateInvited is the CLI's `tolk user create` without a password: the
// user and an invitation link to print.
func (r *Recovery) CreateInvited(ctx context.Context, n NewUser) (store.User, Link, error) {
	return r.invite(ctx, "", n, "", false)
}

func (r *Recovery) invite(ctx context.Context, actor string, n NewUser, lang string, mail bool) (store.User, Link, error) {
	// The account gets a random password nobody knows: it cannot be
	// signed in to until the link is used, and a sign-in attempt costs
	// the same work as for any other user.
	pw, err := r.ID.Gen.Alphanumeric(resetTokenLen)
	if err != nil {
		return store.User{}, Link{}, err
	}
	n.Password = pw
	u, err := r.ID.createUser(ctx, n)
	if err != nil {
		return store.User{}, Link{}, err
	}
	l, err := r.newLink(ctx, u, LinkInvitation, r.InvitationTTL)
	if err != nil {
		return store.User{}, Link{}, err
	}
	if mail {
		r.mail(u, LinkInvitation, lang, &l)
	}
	r.ID.Audit.Record(ctx, audit.Event{Type: audit.UserInvited, ActorUID: actor, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"user_name": u.UserName, "role": string(u.Role), "mailed": strconv.FormatBool(l.Mailed)}})
	return u, l, nil
}

// ErrNoTwoFactor: the user has no second factor to reset.
var ErrNoTwoFactor = errors.New("identity: the user has no second factor")

// AdminResetTwoFactor removes the second factor (and recovery codes) of
// the user uid of the admin's organization; the user enrols again.
func (r *Recovery) AdminResetTwoFactor(ctx context.Context, admin store.User, uid string) error {
	u, err := r.ID.orgUser(ctx, admin, uid)
	if err != nil {
		return err
	}
	return r.resetTwoFactor(ctx, admin.UID, u)
}

// ResetTwoFactor is the CLI's `tolk user reset-2fa`.
func (r *Recovery) ResetTwoFactor(ctx context.Context, userName string) (store.User, error) {
	u, err := r.ID.named(ctx, userName)
	if err != nil {
		return store.User{}, err
	}
	return u, r.resetTwoFactor(ctx, "", u)
}

func (r *Recovery) resetTwoFactor(ctx context.Context, actor string, u store.User) error {
	err := r.ID.Store.DisableTwoFactor(ctx, u.UID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoTwoFactor
	}
	if err != nil {
		return err
	}
	r.ID.Audit.Record(ctx, audit.Event{Type: audit.TwoFactorReset, ActorUID: actor, SubjectUID: u.UID, OrgUID: u.OrgUID})
	return nil
}

// named loads the user userName for the CLI; ErrNotFound if none.
func (s *Service) named(ctx context.Context, userName string) (store.User, error) {
	if !store.ValidText(userName) {
		return store.User{}, ErrNotFound
	}
	u, err := s.Store.GetUserByUserName(ctx, userName)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrNotFound
	}
	return u, err
}
