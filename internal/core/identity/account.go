package identity

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/tolk-project/tolk/internal/core/audit"
	"github.com/tolk-project/tolk/internal/core/twofactor"
	"github.com/tolk-project/tolk/internal/store"
)

// A user's own account (SPEC §8): the password, the profile and the
// recovery codes. Whatever protects the account, or the address its
// mails go to, changes only after the current password
// (confirmPassword): a stolen session alone cannot take the account
// over. A wrong current password changes nothing and counts toward the
// account's and the address's failure limits, like a failed sign-in.

// ChangePassword replaces u's password with proposed after checking
// current (confirmPassword) and the password policy (CheckChange: a
// *passwordpolicy.Violation). It ends every other web session, every
// pending sign-in, every ApiToken and every outstanding reset or
// invitation link of u and records the time as
// LastInvalidateAll (TMS's lastInvalidateAllSessionsPerformed); the web
// session whose hash is keepSession goes on.
func (s *Service) ChangePassword(ctx context.Context, u store.User, keepSession, current, proposed, addr string) error {
	if err := s.confirmPassword(ctx, u, current, addr); err != nil {
		return err
	}
	if err := s.Policy.CheckChange(u.UserName, u.Email, current, proposed); err != nil {
		return err
	}
	return s.setPassword(ctx, u, keepSession, proposed, "web")
}

// setPassword hashes pw as typed (hashes are of the raw bytes) and
// stores it, ending what a password change ends.
func (s *Service) setPassword(ctx context.Context, u store.User, keepSession, pw, source string) error {
	hash, err := s.Hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	defer s.Revocations.Revoked()
	if err := s.Store.ChangePassword(ctx, u.UID, hash, keepSession, s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		return err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.PasswordChanged, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"source": source}})
	return nil
}

// SetPassword is the CLI's `tolk user passwd`: it sets the password of
// the user named userName without the current one (the operator holds the
// database), under the password policy, and ends every web session,
// pending sign-in and ApiToken of the user.
func (s *Service) SetPassword(ctx context.Context, userName, pw string) (store.User, error) {
	u, err := s.userNamed(ctx, userName)
	if err != nil {
		return store.User{}, err
	}
	if err := s.Policy.Check(u.UserName, u.Email, pw); err != nil {
		return store.User{}, err
	}
	return u, s.setPassword(ctx, u, "", pw, "cli")
}

func (s *Service) userNamed(ctx context.Context, userName string) (store.User, error) {
	if !store.ValidText(userName) {
		return store.User{}, ErrNotFound
	}
	u, err := s.Store.GetUserByUserName(ctx, userName)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrNotFound
	}
	return u, err
}

// ErrPasswordRequired: the change needs the current password and none
// was given.
var ErrPasswordRequired = errors.New("identity: current password required")

// ProfileChange is what /settings/profile sends.
type ProfileChange struct {
	FirstName, LastName, Email string
	// Language is a catalog's tag, or "" for the browser's choice; the
	// caller checks that it is one the UI offers.
	Language string
}

func validateProfile(p store.Profile) error {
	switch {
	case p.Email == "":
		return &ValidationError{"email", "is required"}
	case !validEmail(p.Email):
		return &ValidationError{"email", "is not a valid email address"}
	case utf8.RuneCountInString(p.FirstName) > 255 || !store.ValidText(p.FirstName):
		return &ValidationError{"firstName", "must be at most 255 characters"}
	case utf8.RuneCountInString(p.LastName) > 255 || !store.ValidText(p.LastName):
		return &ValidationError{"lastName", "must be at most 255 characters"}
	case !plausibleLanguage(p.Language):
		return &ValidationError{"language", "is not a language tag"}
	}
	return nil
}

// plausibleLanguage accepts "" and the shape of a BCP 47 tag.
func plausibleLanguage(tag string) bool {
	if len(tag) > 35 {
		return false
	}
	return strings.Trim(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == ""
}

// UpdateProfile changes u's names, email and language. A new email (any
// change of it) needs u's current password (confirmPassword;
// ErrPasswordRequired when empty): it is where password resets go. An
// email another user has is ErrConflict.
func (s *Service) UpdateProfile(ctx context.Context, u store.User, ch ProfileChange, current, addr string) (store.User, error) {
	p := store.Profile{FirstName: strings.TrimSpace(ch.FirstName), LastName: strings.TrimSpace(ch.LastName),
		Email: strings.TrimSpace(ch.Email), Language: ch.Language}
	if err := validateProfile(p); err != nil {
		return store.User{}, err
	}
	fields := changedFields(u, p)
	if len(fields) == 0 {
		return u, nil
	}
	if p.Email != u.Email {
		if current == "" {
			return store.User{}, ErrPasswordRequired
		}
		if err := s.confirmPassword(ctx, u, current, addr); err != nil {
			return store.User{}, err
		}
	}
	return s.updateProfile(ctx, u, p, fields, audit.ProfileUpdated)
}

func (s *Service) updateProfile(ctx context.Context, u store.User, p store.Profile, fields []string, event string) (store.User, error) {
	defer s.Revocations.Revoked() // cached verifications carry the user's email and names
	if err := s.Store.UpdateProfile(ctx, u.UID, p, s.now()); err != nil {
		switch {
		case errors.Is(err, store.ErrConflict):
			return store.User{}, ErrConflict
		case errors.Is(err, store.ErrNotFound):
			return store.User{}, ErrNotFound
		}
		return store.User{}, err
	}
	s.Audit.Record(ctx, audit.Event{Type: event, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"fields": strings.Join(fields, ",")}})
	u.FirstName, u.LastName, u.Email, u.Language = p.FirstName, p.LastName, p.Email, p.Language
	return u, nil
}

func changedFields(u store.User, p store.Profile) []string {
	var f []string
	if p.FirstName != u.FirstName {
		f = append(f, "first_name")
	}
	if p.LastName != u.LastName {
		f = append(f, "last_name")
	}
	if p.Email != u.Email {
		f = append(f, "email")
	}
	if p.Language != u.Language {
		f = append(f, "language")
	}
	return f
}

// RegenerateRecoveryCodes replaces every recovery code of u with a new
// set after checking u's password (confirmPassword), and returns the new
// codes to show once. twofactor.ErrNotEnabled when u has no second factor.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, u store.User, pw, addr string) ([]string, error) {
	if s.TwoFactor == nil {
		return nil, twofactor.ErrNotEnabled
	}
	if err := s.confirmPassword(ctx, u, pw, addr); err != nil {
		return nil, err
	}
	codes, hashes, err := s.TwoFactor.NewRecoveryCodes(u.UID)
	if err != nil {
		return nil, err
	}
	if err := s.Store.ReplaceRecoveryCodes(ctx, u.UID, hashes, s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, twofactor.ErrNotEnabled
		}
		return nil, err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.RecoveryCodesRegenerate, ActorUID: u.UID, SubjectUID: u.UID, OrgUID: u.OrgUID})
	return codes, nil
}

// UserUpdate is `tolk user update`: nil leaves a field as it is.
type UserUpdate struct {
	Email, FirstName, LastName *string
	Role                       *store.Role
	Active                     *bool
}

// UpdateUser is the CLI's `tolk user update` of the user named userName
// (the operator holds the database; no admin and no password are asked).
// Deactivating ends the user's sessions and credentials at once, as the
// users page does (store.UserAdmin.SetUserActive).
func (s *Service) UpdateUser(ctx context.Context, userName string, up UserUpdate) (store.User, error) {
	u, err := s.userNamed(ctx, userName)
	if err != nil {
		return store.User{}, err
	}
	if up.Role != nil && !up.Role.Valid() {
		return store.User{}, &ValidationError{"role", "must be one of ADMIN, PROJECT_MANAGER, LINGUIST, GUEST, SUBMITTER"}
	}
	p := store.Profile{FirstName: u.FirstName, LastName: u.LastName, Email: u.Email, Language: u.Language}
	if up.Email != nil {
		p.Email = strings.TrimSpace(*up.Email)
	}
	if up.FirstName != nil {
		p.FirstName = strings.TrimSpace(*up.FirstName)
	}
	if up.LastName != nil {
		p.LastName = strings.TrimSpace(*up.LastName)
	}
	if err := validateProfile(p); err != nil {
		return store.User{}, err
	}
	if fields := changedFields(u, p); len(fields) > 0 {
		if u, err = s.updateProfile(ctx, u, p, fields, audit.UserUpdated); err != nil {
			return store.User{}, err
		}
	}
	if up.Role != nil && *up.Role != u.Role {
		if err := s.cliSetRole(ctx, u, *up.Role); err != nil {
			return store.User{}, err
		}
		u.Role = *up.Role
	}
	if up.Active != nil && *up.Active != u.Active {
		if err := s.cliSetActive(ctx, u, *up.Active); err != nil {
			return store.User{}, err
		}
		u.Active = *up.Active
	}
	return s.Store.GetUser(ctx, u.UID)
}

func (s *Service) cliSetRole(ctx context.Context, u store.User, role store.Role) error {
	defer s.Revocations.Revoked()
	if err := s.Store.SetUserRole(ctx, u.UID, role, s.now()); err != nil {
		return err
	}
	s.Audit.Record(ctx, audit.Event{Type: audit.UserRoleChanged, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"user_name": u.UserName, "from": string(u.Role), "to": string(role), "source": "cli"}})
	return nil
}

func (s *Service) cliSetActive(ctx context.Context, u store.User, active bool) error {
	if err := s.setActive(ctx, u.UID, active); err != nil {
		return err
	}
	typ := audit.UserDeactivated
	if active {
		typ = audit.UserReactivated
	}
	s.Audit.Record(ctx, audit.Event{Type: typ, SubjectUID: u.UID, OrgUID: u.OrgUID,
		Details: map[string]string{"user_name": u.UserName, "source": "cli"}})
	return nil
}
